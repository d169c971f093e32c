/**
 * `host:port` listen addresses, including bracketed IPv6 (`[::1]:9900`).
 *
 * @module
 */

import { isIPv4, isIPv6 } from "node:net";
import { AviaryError } from "../errors.js";

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses `HOST:PORT`; returns undefined for anything else. Port 0 means "any free port". */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port > 65_535) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}

/** The inverse of {@link parseListenAddress}, used in log lines and URLs. */
export function formatListenAddress({ host, port }: ListenAddress): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

const ANY_V4 = "0.0.0.0";
const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1"]);

/** The host as the kernel compares it: case-insensitive names, `::` however it is written. */
function normalHost(host: string): string {
  const h = host.toLowerCase();
  return h === "0:0:0:0:0:0:0:0" ? "::" : h === "0:0:0:0:0:0:0:1" ? "::1" : h;
}

/**
 * Whether binding both addresses would collide: the same port (never port 0, which picks a
 * free one) on hosts that share an address. `::` takes the port on every address (dual stack),
 * `0.0.0.0` on every IPv4 address and every name, and `localhost` is the loopback addresses.
 */
export function listenAddressesOverlap(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port === 0 || b.port === 0 || a.port !== b.port) return false;
  const x = normalHost(a.host);
  const y = normalHost(b.host);
  if (x === y || x === "::" || y === "::") return true;
  if (x === ANY_V4) return !isIPv6(y);
  if (y === ANY_V4) return !isIPv6(x);
  const loopback = (h: string) => LOOPBACK_NAMES.has(h) || /^127\./.test(h);
  return (x === "localhost" && loopback(y)) || (y === "localhost" && loopback(x));
}

/**
 * Whether a host is this machine's loopback and nothing else: `localhost`, an IPv4 address in
 * 127.0.0.0/8 or `::1` (a name that merely starts with `127.` is not).
 */
export function isLoopbackHost(host: string): boolean {
  const h = normalHost(host);
  return h === "localhost" || h === "::1" || (isIPv4(h) && h.startsWith("127."));
}

/**
 * Why the data plane and the admin server cannot both bind these addresses, or undefined when
 * they can. Said once here for the spec's `listen`/`admin` and for `serve --listen/--admin`.
 */
export function listenConflict(listen: string, admin: string): string | undefined {
  const l = parseListenAddress(listen);
  const a = parseListenAddress(admin);
  if (l === undefined || a === undefined || !listenAddressesOverlap(l, a)) return undefined;
  return `the admin address ${admin} takes the same port as the data plane's listen address ${listen}; give them different ports`;
}

/**
 * Why the OFREP listener cannot bind `ofrep` beside the data plane and the admin server, or
 * undefined when it can.
 */
export function ofrepConflict(ofrep: string, listen: string, admin: string): string | undefined {
  const o = parseListenAddress(ofrep);
  if (o === undefined) return undefined;
  for (const [name, text] of [
    ["the data plane's listen address", listen],
    ["the admin address", admin],
  ] as const) {
    const other = parseListenAddress(text);
    if (other !== undefined && listenAddressesOverlap(o, other))
      return `the OFREP address ${ofrep} takes the same port as ${name} ${text}; give them different ports`;
  }
  return undefined;
}

/** What each address this process set out to bind is for, so a bind failure can say which. */
const purposes = new Map<string, string>();

/**
 * Checks that the data plane and the admin server can both bind their addresses (throws an
 * AVIARY_USAGE error naming both when not), and notes which is which for
 * {@link bindFailureMessage}.
 */
export function checkListenAddresses(listen: ListenAddress, admin: ListenAddress): void {
  const clash = listenConflict(formatListenAddress(listen), formatListenAddress(admin));
  if (clash !== undefined) throw new AviaryError("AVIARY_USAGE", clash);
  purposes.set(formatListenAddress(listen), "the data plane (listen)");
  purposes.set(formatListenAddress(admin), "the admin server (admin)");
}

/** As {@link checkListenAddresses}, for the OFREP listener beside the other two. */
export function checkOfrepAddress(
  ofrep: ListenAddress,
  listen: ListenAddress,
  admin: ListenAddress,
): void {
  const clash = ofrepConflict(
    formatListenAddress(ofrep),
    formatListenAddress(listen),
    formatListenAddress(admin),
  );
  if (clash !== undefined) throw new AviaryError("AVIARY_USAGE", clash);
  purposes.set(formatListenAddress(ofrep), "flag evaluation (ofrep.listen)");
}

const BIND_REASONS: Record<string, string> = {
  EADDRINUSE: "another process (another aviary?) already listens there",
  EACCES: "permission denied (ports below 1024 need privileges)",
  EADDRNOTAVAIL: "no interface of this machine has that address",
};

/**
 * One line for an error of `listen()` (EADDRINUSE, EACCES, ...): the address, which listener
 * it was for, and why. Undefined for any other error.
 */
export function bindFailureMessage(err: unknown): string | undefined {
  const e = err as { syscall?: unknown; code?: unknown; address?: unknown; port?: unknown };
  if (typeof err !== "object" || err === null || e.syscall !== "listen") return undefined;
  const code = typeof e.code === "string" ? e.code : "an error";
  const where =
    typeof e.address === "string" && typeof e.port === "number"
      ? formatListenAddress({ host: e.address, port: e.port })
      : undefined;
  // The kernel reports the address it tried: a name (`localhost`) comes back resolved, so
  // fall back to the port when only one listener asked for it.
  const byPort = [...purposes].filter(([k]) => k.endsWith(`:${e.port}`));
  const purpose =
    (where === undefined ? undefined : purposes.get(where)) ??
    (byPort.length === 1 ? byPort[0]?.[1] : undefined);
  return `cannot listen on ${where ?? "the address"}${purpose ? ` for ${purpose}` : ""}: ${BIND_REASONS[code] ?? code} (${code})`;
}
