/**
 * `renderHaproxy(spec)`: what HAProxy needs so that Aviary can drive it at run time without a
 * reload:
 *
 * - `aviary-haproxy.cfg`, the fragment the user includes after their own configuration: one
 *   frontend on `spec.listen` choosing the service by host and longest path prefix (whole
 *   segments), then the version (managed header routes, the spec's routes, the sticky bucket
 *   against the weight); two backends per service (stable, canary) of `targetSlots` server
 *   slots each, pointed at targets at run time; an access log in Aviary's line format.
 * - `aviary.lua`, loaded from `global`: the bucket and the match values (see lua.ts).
 * - `aviary-<service>.map` per service, read from `mapsDir`: the service's state (versions,
 *   weight in basis points, which managed routes are on). Initially the stable version only for
 *   a service with a strategy (the rollout brings the canary), the spec's canary and weight
 *   otherwise.
 *
 * @module
 */

import { isIP } from "node:net";
import type { RequestMatch, Service, Spec, StringMatch, Version } from "../../../spec/schema.js";
import { parseListenAddress } from "../../../util/address.js";
import { parseDuration } from "../../../util/duration.js";
import type { RenderedConfig } from "../render.js";
import {
  backendName,
  bySpecificity,
  KEY,
  managedRoutes,
  mapFileName,
  mapPath,
  type Role,
  renderCatalog,
  serverName,
} from "./layout.js";
import { type LuaService, lowBytes, renderLua, type ValueSource } from "./lua.js";

export const CONFIG_FILE = "aviary-haproxy.cfg";
export const LUA_FILE = "aviary.lua";

/** A spec the HAProxy provider cannot serve, naming the place in the spec. */
export class HaproxyRenderError extends Error {
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "HaproxyRenderError";
  }
}

/**
 * A config token holding `bytes`: double-quoted, every byte that is not a letter or digit as a
 * `\xHH` escape, so no value can end the token, start a comment or expand a variable.
 */
export function cfgBytes(bytes: Uint8Array): string {
  let out = '"';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9]/.test(c) ? c : `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return `${out}"`;
}

const utf8 = (text: string) => new TextEncoder().encode(text);

/** A target as HAProxy's `server` line and `set server addr` take it. */
export interface TargetAddress {
  host: string;
  port: number;
}

/**
 * `http://IP:PORT` only: `set server addr` takes an IP, and the slots are rendered without TLS.
 * Returns a reason when the target cannot be served.
 */
export function targetAddress(url: string): TargetAddress | string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `not a URL: ${url}`;
  }
  if (u.protocol !== "http:")
    return `${url}: HAProxy server slots are rendered for http:// targets only`;
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  if (isIP(host) === 0)
    return `${url}: HAProxy sets a slot's address at run time from an IP address, not a host name`;
  return { host, port: u.port === "" ? 80 : Number(u.port) };
}

function ms(duration: string): string {
  return `${parseDuration(duration)}ms`;
}

/** Collects the values match conditions read, one Lua source per distinct (kind, name). */
class Values {
  readonly list: ValueSource[] = [];
  index(source: ValueSource): number {
    let i = this.list.findIndex((v) => v.kind === source.kind && v.name === source.name);
    if (i === -1) i = this.list.push(source) - 1;
    return i + 1;
  }
}

function valueCondition(
  fetch: string,
  m: StringMatch,
  kind: ValueSource["kind"],
  path: string,
): string {
  // Headers and cookies are latin1 to Node (one byte a character); query values are UTF-8.
  const bytes = (s: string) => (kind === "query" ? utf8(s) : lowBytes(s));
  if ("exact" in m)
    return m.exact === ""
      ? `{ ${fetch} -m len 0 }`
      : `{ ${fetch} -m str ${cfgBytes(bytes(m.exact))} }`;
  if ("prefix" in m) return `{ ${fetch} -m beg ${cfgBytes(bytes(m.prefix))} }`;
  throw new HaproxyRenderError(
    path,
    "a regex match is not rendered for HAProxy (its regexes backtrack on client values); use exact or prefix",
  );
}

/** The ACL conditions (ANDed) of one request match. */
function matchConditions(m: RequestMatch, values: Values, path: string): string {
  const out: string[] = [];
  const add = (
    kind: "header" | "cookie" | "query",
    record: Record<string, StringMatch> | undefined,
  ) => {
    for (const [name, sm] of Object.entries(record ?? {})) {
      const n = values.index({ kind, name: kind === "header" ? name.toLowerCase() : name });
      out.push(
        valueCondition(
          `lua.aviary_value(${n})`,
          sm,
          kind,
          `${path}.${kind === "header" ? "headers" : kind === "cookie" ? "cookies" : "query"}.${name}`,
        ),
      );
    }
  };
  add("header", m.headers);
  add("cookie", m.cookies);
  add("query", m.query);
  return out.join(" ");
}

/** The conditions under which a request belongs to `svc` (host, whole-segment prefix), as alternatives. */
function serviceAlternatives(svc: Service): string[] {
  const host = svc.match.host;
  const hostConds =
    host === undefined
      ? [""]
      : [
          `{ req.fhdr(host),lower -m str ${cfgBytes(utf8(host))} }`,
          `{ req.fhdr(host),lower -m beg ${cfgBytes(utf8(`${host}:`))} }`,
        ];
  const prefix = svc.match.pathPrefix ?? "/";
  const pathConds =
    prefix === "/"
      ? [""]
      : prefix.endsWith("/")
        ? [`{ path -m beg ${cfgBytes(utf8(prefix))} }`]
        : [
            `{ path -m str ${cfgBytes(utf8(prefix))} }`,
            `{ path -m beg ${cfgBytes(utf8(`${prefix}/`))} }`,
          ];
  const out: string[] = [];
  for (const h of hostConds) for (const p of pathConds) out.push([h, p].filter(Boolean).join(" "));
  return out;
}

/** The map's lines for a service's initial state. */
export function initialMap(svc: Service): string {
  const lines = [`${KEY.stable} ${svc.stable.version}`];
  if (svc.strategy === undefined && svc.canary !== undefined) {
    lines.push(`${KEY.canary} ${svc.canary.version}`);
    lines.push(`${KEY.weight} ${Math.round(svc.weight * 100)}`);
  } else lines.push(`${KEY.weight} 0`);
  return `${lines.join("\n")}\n`;
}

function logTarget(listen: string): string {
  if (listen.startsWith("unix:")) return listen.slice("unix:".length);
  const hostPort = listen.slice("udp://".length);
  const parsed = parseListenAddress(hostPort);
  if (parsed === undefined)
    throw new HaproxyRenderError(
      "dataplane.logs.listen",
      `expected udp://HOST:PORT, got ${listen}`,
    );
  return parsed.host.includes(":")
    ? `udp6@${parsed.host}:${parsed.port}`
    : `udp4@${parsed.host}:${parsed.port}`;
}

function bindAddress(listen: string): string {
  const parsed = parseListenAddress(listen);
  if (parsed === undefined)
    throw new HaproxyRenderError("listen", `expected HOST:PORT, got ${listen}`);
  return parsed.host.includes(":")
    ? `ipv6@${parsed.host}:${parsed.port}`
    : `${parsed.host}:${parsed.port}`;
}

/** `stats socket` argument for the Runtime API address. */
export function statsSocketAddress(runtimeApi: string): string {
  if (runtimeApi.startsWith("unix:")) return runtimeApi.slice("unix:".length);
  const parsed = parseListenAddress(runtimeApi);
  if (parsed === undefined) return runtimeApi;
  return parsed.host.includes(":")
    ? `ipv6@${parsed.host}:${parsed.port}`
    : `ipv4@${parsed.host}:${parsed.port}`;
}

function backend(
  svc: Service,
  role: Role,
  version: Version | undefined,
  slots: number,
  mapFile: string,
  path: string,
): string[] {
  const targets = version?.targets ?? [];
  if (targets.length > slots)
    throw new HaproxyRenderError(
      `${path}.targets`,
      `${targets.length} targets but targetSlots is ${slots}`,
    );
  const lines = [
    `backend ${backendName(svc.name, role)}`,
    "    mode http",
    "    balance roundrobin",
    "    option forwardfor",
    // A slot's address changes at run time, but HAProxy 2.6 reuses a connection a client's
    // session already holds to that slot, to the old address (seen: a promoted stable's users
    // still reached the old version until their connections closed). Closing the server side
    // after each response makes every request go where the slot points now.
    "    option http-server-close",
    // As the embedded router: one more try, on another target, after a failed connect.
    "    retries 1",
    "    option redispatch 1",
    `    timeout connect ${ms(svc.timeouts.connect)}`,
    // HAProxy's server timeout is one inactivity timeout: the longer of Aviary's two.
    `    timeout server ${parseDuration(svc.timeouts.response)! >= parseDuration(svc.timeouts.idle)! ? ms(svc.timeouts.response) : ms(svc.timeouts.idle)}`,
    `    http-request set-var(txn.aviary_role) str(${role})`,
    // After finalize the map is empty and the stable slots hold the rendered stable again.
    `    http-request set-var(txn.aviary_ver) str(${role === "stable" ? KEY.stable : KEY.canary}),map(${mapFile},${role === "stable" ? svc.stable.version : "-"})`,
  ];
  for (let slot = 0; slot < slots; slot++) {
    const url = targets[slot];
    if (url === undefined) {
      // An empty slot: out of rotation until Aviary points it at a target.
      lines.push(`    server ${serverName(slot)} 127.0.0.1:1 disabled`);
      continue;
    }
    const addr = targetAddress(url);
    if (typeof addr === "string") throw new HaproxyRenderError(`${path}.targets.${slot}`, addr);
    const host = addr.host.includes(":") ? `ipv6@${addr.host}` : addr.host;
    lines.push(`    server ${serverName(slot)} ${host}:${addr.port}`);
  }
  return lines;
}

export function renderHaproxy(spec: Spec): RenderedConfig {
  const settings = spec.dataplane.haproxy;
  if (settings === undefined)
    throw new HaproxyRenderError(
      "dataplane.haproxy",
      "rendering for HAProxy needs the haproxy settings (runtimeApi, mapsDir)",
    );
  const logs = spec.dataplane.logs;
  if (logs === undefined)
    throw new HaproxyRenderError(
      "dataplane.logs",
      "HAProxy's access log needs logs.listen (udp://HOST:PORT)",
    );
  const services = bySpecificity(spec.services);
  const indexOf = (s: Service) => spec.services.indexOf(s);
  const values = new Values();
  const lua: LuaService[] = [];

  const front: string[] = [
    "# Rendered by Aviary for HAProxy 2.6+ (aviary render haproxy). Include it after your own",
    "# configuration; Aviary changes weights, routes and targets at run time through the Runtime API.",
    "",
    "frontend aviary",
    "    mode http",
    `    bind ${bindAddress(spec.listen)}`,
    "    timeout client 60s",
    "    timeout http-request 10s",
    "    timeout http-keep-alive 60s",
    "    option forwardfor",
    // A slot's address changes at run time, but HAProxy 2.6 reuses a connection a client's
    // session already holds to that slot, to the old address (seen: a promoted stable's users
    // still reached the old version until their connections closed). Closing the server side
    // after each response makes every request go where the slot points now.
    "    option http-server-close",
    `    log ${logTarget(logs.listen)} format rfc5424 local0 info`,
    // The line contract shared with the log ingestion. An empty sample logs as "-", so the
    // optional " fail=<kind>" cannot be a field of its own: aviary_tail holds the duration and,
    // after a failure, the fail token (set in http-after-response, see below).
    '    log-format "aviary1 svc=%[var(txn.aviary_svc)] ver=%[var(txn.aviary_ver)] role=%[var(txn.aviary_role)] st=%ST ms=%[var(txn.aviary_tail)]"',
    // When the request's headers were in: the duration runs from here to the response's headers.
    "    http-request set-var(txn.aviary_t0) date(0,us)",
    "    # 1. The service: a host first, then the longest path prefix (whole segments).",
  ];
  for (const svc of services) {
    for (const alt of serviceAlternatives(svc))
      front.push(
        `    http-request set-var(txn.aviary_svc) str(${svc.name}) if !{ var(txn.aviary_svc) -m found }${alt === "" ? "" : ` ${alt}`}`,
      );
  }
  front.push(
    "    http-request set-log-level silent if !{ var(txn.aviary_svc) -m found }",
    "    http-request deny deny_status 404 if !{ var(txn.aviary_svc) -m found }",
    "    # 2. The service's weight (basis points) from its map, and the bucket when the weight decides.",
  );
  const decisions: string[] = [
    "    # 3. The version: managed routes (switched on in the map), the spec's routes, the weight.",
  ];
  const maps: { name: string; content: string }[] = [];
  const backends: string[] = [];
  services.forEach((svc, n) => {
    const i = indexOf(svc);
    const at = `services.${i}`;
    const id = n + 1;
    const mapFile = mapPath(settings.mapsDir, svc.name);
    const sticky = svc.stickiness;
    lua.push({
      prefix: `${sticky?.group ?? svc.name}:`,
      sticky:
        sticky?.header !== undefined
          ? { kind: "header", name: sticky.header.toLowerCase() }
          : sticky?.cookie !== undefined
            ? { kind: "cookie", name: sticky.cookie }
            : sticky?.clientAddress === true
              ? { kind: "clientAddress", name: "" }
              : undefined,
    });
    if (sticky?.setCookie === true)
      throw new HaproxyRenderError(
        `${at}.stickiness.setCookie`,
        "not rendered for HAProxy: Aviary does not mint sticky cookies there",
      );
    if (svc.mirror !== undefined)
      throw new HaproxyRenderError(`${at}.mirror`, "HAProxy 2.6 cannot mirror requests");
    const isSvc = `aviary_s${id}`;
    const canaryOk = `aviary_cv${id} aviary_cn${id}`;
    front.push(
      `    acl ${isSvc} var(txn.aviary_svc) -m str ${svc.name}`,
      `    http-request set-var(txn.aviary_w) str(${KEY.weight}),map(${mapFile},0) if ${isSvc}`,
      `    http-request set-var(txn.aviary_b) lua.aviary_bucket(${id}) if ${isSvc} { var(txn.aviary_w) -m int gt 0 } { var(txn.aviary_w) -m int lt 10000 }`,
    );
    decisions.push(
      `    acl aviary_cv${id} str(${KEY.canary}),map(${mapFile}) -m found`,
      // A canary with no slot in rotation sends its users to stable rather than to a 503.
      `    acl aviary_cn${id} nbsrv(${backendName(svc.name, "canary")}) gt 0`,
    );
    const canaryBackend = backendName(svc.name, "canary");
    managedRoutes(svc).forEach((r, j) => {
      const conds = matchConditions(r.match, values, `${at}.strategy (setHeaderRoute ${r.name})`);
      decisions.push(
        `    use_backend ${canaryBackend} if ${isSvc} ${canaryOk} { str(${KEY.route(j)}),map(${mapFile}) -m found } ${conds}`,
      );
    });
    svc.routes.forEach((r, j) => {
      const conds = matchConditions(r.match, values, `${at}.routes.${j}.match`);
      decisions.push(
        r.to === "canary"
          ? `    use_backend ${canaryBackend} if ${isSvc} ${canaryOk} ${conds}`
          : `    use_backend ${backendName(svc.name, "stable")} if ${isSvc} ${conds}`,
      );
    });
    decisions.push(
      `    use_backend ${canaryBackend} if ${isSvc} ${canaryOk} { var(txn.aviary_w) -m int ge 10000 }`,
      `    use_backend ${canaryBackend} if ${isSvc} ${canaryOk} { var(txn.aviary_b),sub(txn.aviary_w) lt 0 }`,
      `    use_backend ${backendName(svc.name, "stable")} if ${isSvc}`,
    );
    backends.push(
      "",
      ...backend(svc, "stable", svc.stable, settings.targetSlots, mapFile, `${at}.stable`),
      "",
      ...backend(
        svc,
        "canary",
        svc.strategy === undefined ? svc.canary : undefined,
        settings.targetSlots,
        mapFile,
        `${at}.canary`,
      ),
    );
    maps.push({ name: mapFileName(svc.name), content: initialMap(svc) });
  });
  front.push(
    // A response from a target marks the request; without one, the engine's own 5xx names the failure.
    "    http-response set-var(txn.aviary_up) bool(true)",
    // HAProxy 2.6 has no fetch of the total time at log time (%Ta is log-format only): the
    // duration logged is from the request's headers to the response's, in milliseconds.
    "    http-after-response set-var(txn.aviary_tail) date(0,us),sub(txn.aviary_t0),div(1000)",
    '    http-after-response set-var(txn.aviary_tail) var(txn.aviary_tail),concat(" fail=timeout") if { status 504 } !{ var(txn.aviary_up) -m found } { var(txn.aviary_role) -m found }',
    '    http-after-response set-var(txn.aviary_tail) var(txn.aviary_tail),concat(" fail=connect") if { status 502 503 } !{ var(txn.aviary_up) -m found } { var(txn.aviary_role) -m found }',
  );
  const config = [...front, ...decisions, ...backends, ""].join("\n");
  const socket = statsSocketAddress(settings.runtimeApi);
  return {
    files: [
      { name: CONFIG_FILE, content: config },
      {
        name: LUA_FILE,
        content: renderLua(lua, values.list, renderCatalog(services, settings.targetSlots)),
      },
      ...maps,
    ],
    instructions: [
      `Put the ${maps.length} aviary-*.map files in ${settings.mapsDir} (Aviary rewrites them after every change: it needs write access there).`,
      `Add to your global section:`,
      `    lua-load /path/to/${LUA_FILE}`,
      `    stats socket ${socket} level admin`,
      `Include ${CONFIG_FILE} after your own configuration: haproxy -f haproxy.cfg -f ${CONFIG_FILE}`,
      "Check it with haproxy -c, then reload. Re-render and reload when services, routes or strategies change.",
    ].join("\n"),
  };
}
