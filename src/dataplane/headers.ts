/**
 * Header rewriting for a forwarding proxy, done in one pass over the raw (name, value) list:
 * hop-by-hop fields are dropped (RFC 9110 §7.6.1), X-Forwarded-For/-Proto/-Host, Forwarded
 * (RFC 7239) and Via are set (§7.6.3), and the headers the routing rules read are captured on
 * the way.
 *
 * Order matters: the fields the client's `Connection` names are removed from the client's
 * headers *before* Aviary adds its own, so `Connection: x-forwarded-for, via` can drop the
 * client's values of those fields but never Aviary's; Host and Content-Length are never
 * removed that way (the upstream must see the name routed on and the framing sent).
 *
 * The forwarding headers a client sends are believed only from `proxy.trustedProxies`: from a
 * trusted proxy, X-Forwarded-For and Forwarded get Aviary's hop appended and
 * X-Forwarded-Proto/-Host are kept; from anyone else all four are replaced by what Aviary saw
 * (X-Forwarded-For then holds the peer address alone), and X-Forwarded-Port,
 * X-Forwarded-Prefix and X-Real-IP, which Aviary does not set, are dropped — as Traefik does
 * outside its `forwardedHeaders.trustedIPs`.
 *
 * @module
 */

import type { HeaderSlots } from "./request-view.js";

/** Always hop-by-hop, whatever Connection says (RFC 9110 §7.6.1, plus the legacy ones). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
]);

/** What this proxy adds to Via (RFC 9110 §7.6.3). */
export const VIA = "1.1 aviary";

/** Connection options that are not header names, so need no second pass. */
const CONNECTION_OPTIONS = new Set(["close", "keep-alive", "upgrade"]);

/** Never removed because Connection names them: the routed name and the message framing. */
const NEVER_CONNECTION_NAMED = new Set(["host", "content-length"]);

export interface ForwardContext {
  slots: HeaderSlots;
  /** Filled with the captured header values, by slot. */
  captured: Array<string | undefined>;
  clientAddress: string | undefined;
  /** "http" or "https": the scheme the client used to reach Aviary. */
  proto: string;
  /** Set when the request carries a body (Content-Length above 0, or Transfer-Encoding). */
  hasBody: boolean;
}

/**
 * The request header list to send upstream, as a flat [name, value, ...] array. Keeps the
 * client's Host (the upstream sees the name the user asked for), as Envoy and HAProxy do.
 * `trustedProxy` tells whether the client's address is a proxy whose forwarding headers are
 * believed (see the module comment); undefined trusts nobody.
 */
export function forwardRequestHeaders(
  raw: readonly string[],
  ctx: ForwardContext,
  trustedProxy?: (address: string) => boolean,
): string[] {
  let out: string[] = [];
  const captured = ctx.captured;
  const client = ctx.clientAddress;
  const trusted = trustedProxy !== undefined && client !== undefined && trustedProxy(client);
  let forwardedFor: string | undefined;
  let forwarded: string | undefined;
  let forwardedProto: string | undefined;
  let forwardedHost: string | undefined;
  let via: string | undefined;
  let host: string | undefined;
  let connectionTokens: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    const slot = ctx.slots.find(lower);
    if (slot !== undefined) {
      const prev = captured[slot];
      captured[slot] =
        prev === undefined ? value : `${prev}${lower === "cookie" ? "; " : ", "}${value}`;
    }
    if (HOP_BY_HOP.has(lower)) {
      if (lower === "connection")
        connectionTokens = connectionTokens ? `${connectionTokens},${value}` : value;
      else if (lower === "transfer-encoding") ctx.hasBody = true;
      continue;
    }
    switch (lower) {
      case "content-length":
        if (value !== "0") ctx.hasBody = true;
        break;
      case "host":
        host = value;
        break;
      // Collected, and written after the loop (merged with Aviary's hop, or replaced by it).
      case "x-forwarded-for":
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        continue;
      case "forwarded":
        forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
        continue;
      case "x-forwarded-proto":
        forwardedProto = forwardedProto === undefined ? value : `${forwardedProto}, ${value}`;
        continue;
      case "x-forwarded-host":
        forwardedHost = forwardedHost === undefined ? value : `${forwardedHost}, ${value}`;
        continue;
      case "via":
        via = via === undefined ? value : `${via}, ${value}`;
        continue;
      // Claims about the client Aviary does not make itself: believed from a trusted proxy only.
      case "x-forwarded-port":
      case "x-forwarded-prefix":
      case "x-real-ip":
        if (!trusted) continue;
        break;
      // Node has already answered 100-continue; the upstream gets the body without asking.
      case "expect":
        continue;
    }
    out.push(name, value);
  }
  if (connectionTokens !== undefined) {
    const named = connectionNamed(connectionTokens);
    if (named !== undefined) {
      out = withoutNamed(out, named);
      if (named.has("x-forwarded-for")) forwardedFor = undefined;
      if (named.has("forwarded")) forwarded = undefined;
      if (named.has("x-forwarded-proto")) forwardedProto = undefined;
      if (named.has("x-forwarded-host")) forwardedHost = undefined;
      if (named.has("via")) via = undefined;
    }
  }
  // Only now Aviary's own fields: nothing the client sent can remove them.
  const node = client ?? "unknown";
  const proto = ctx.proto;
  out.push(
    "x-forwarded-for",
    trusted && forwardedFor !== undefined ? `${forwardedFor}, ${node}` : node,
  );
  out.push("x-forwarded-proto", trusted && forwardedProto !== undefined ? forwardedProto : proto);
  const xfh = trusted && forwardedHost !== undefined ? forwardedHost : host;
  if (xfh !== undefined) out.push("x-forwarded-host", xfh);
  const element = forwardedElement(node, host, proto);
  out.push("forwarded", trusted && forwarded !== undefined ? `${forwarded}, ${element}` : element);
  out.push("via", via === undefined ? VIA : `${via}, ${VIA}`);
  return out;
}

/** One RFC 7239 element for the hop from the client to Aviary: `for=…;host=…;proto=…`. */
function forwardedElement(client: string, host: string | undefined, proto: string): string {
  // An IPv6 node is bracketed and quoted (§6); "unknown" and IPv4 are tokens.
  const node = client.indexOf(":") === -1 ? client : `"[${client}]"`;
  if (host === undefined) return `for=${node};proto=${proto}`;
  return `for=${node};host=${isToken(host) ? host : quoted(host)};proto=${proto}`;
}

/** RFC 9110 tchar, by character code below 128. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  TCHAR[c.charCodeAt(0)] = 1;

/** Whether `value` is an RFC 9110 token; a loop, as this runs per request. */
function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) if (TCHAR[value.charCodeAt(i)] !== 1) return false;
  return true;
}

function quoted(value: string): string {
  if (value.indexOf('"') === -1 && value.indexOf("\\") === -1) return `"${value}"`;
  return `"${value.replace(/["\\]/g, "\\$&")}"`;
}

/**
 * Response headers to relay to the client: hop-by-hop fields dropped, Via added. The input is
 * undici's raw list, reused when nothing needs dropping; otherwise the copy starts at the first
 * field dropped (most upstreams send Connection and Keep-Alive last).
 */
export function relayResponseHeaders(raw: string[]): string[] {
  let out: string[] | undefined;
  let connectionTokens: string | undefined;
  let via: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === "via") {
      out ??= raw.slice(0, i);
      const value = raw[i + 1] as string;
      if (lower === "connection")
        connectionTokens = connectionTokens ? `${connectionTokens},${value}` : value;
      else if (lower === "via") via = via === undefined ? value : `${via}, ${value}`;
      continue;
    }
    if (out !== undefined) out.push(name, raw[i + 1] as string);
  }
  let result = out ?? raw;
  if (connectionTokens !== undefined) {
    const named = connectionNamed(connectionTokens);
    if (named !== undefined) {
      result = withoutNamed(result, named);
      if (named.has("via")) via = undefined;
    }
  }
  // Via last, after the upstream's Connection tokens were applied, so they cannot remove it.
  result.push("via", via === undefined ? VIA : `${via}, ${VIA}`);
  return result;
}

/**
 * The field names a Connection header lists (RFC 9110 §7.6.1), without the options that name
 * no field and without the ones never removed; undefined when that leaves none.
 */
function connectionNamed(tokens: string): Set<string> | undefined {
  // Nearly always a lone "keep-alive" or "close", which names no field: no work, no garbage.
  if (CONNECTION_OPTIONS.has(tokens) || CONNECTION_OPTIONS.has(tokens.trim().toLowerCase()))
    return undefined;
  const named = new Set<string>();
  for (const t of tokens.split(",")) {
    const name = t.trim().toLowerCase();
    if (name !== "" && !CONNECTION_OPTIONS.has(name) && !NEVER_CONNECTION_NAMED.has(name))
      named.add(name);
  }
  return named.size === 0 ? undefined : named;
}

/** `headers` without the fields in `named`; rare, so a second pass. */
function withoutNamed(headers: string[], named: Set<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!named.has((headers[i] as string).toLowerCase()))
      out.push(headers[i] as string, headers[i + 1] as string);
  }
  return out;
}
