/**
 * Header rewriting for a forwarding proxy, done in one pass over the raw (name, value) list:
 * hop-by-hop fields are dropped (RFC 9110 §7.6.1), X-Forwarded-For/-Proto/-Host and Via are
 * added (§7.6.3), and the headers the routing rules read are captured on the way.
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
 */
export function forwardRequestHeaders(raw: readonly string[], ctx: ForwardContext): string[] {
  const out: string[] = [];
  const captured = ctx.captured;
  let forwardedFor: string | undefined;
  let via: string | undefined;
  let host: string | undefined;
  let hasProto = false;
  let hasForwardedHost = false;
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
      case "x-forwarded-for":
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        continue;
      case "via":
        via = via === undefined ? value : `${via}, ${value}`;
        continue;
      // Node has already answered 100-continue; the upstream gets the body without asking.
      case "expect":
        continue;
      case "host":
        host = value;
        break;
      case "x-forwarded-proto":
        hasProto = true;
        break;
      case "x-forwarded-host":
        hasForwardedHost = true;
        break;
    }
    out.push(name, value);
  }
  const client = ctx.clientAddress ?? "unknown";
  out.push("x-forwarded-for", forwardedFor === undefined ? client : `${forwardedFor}, ${client}`);
  if (!hasProto) out.push("x-forwarded-proto", ctx.proto);
  if (!hasForwardedHost && host !== undefined) out.push("x-forwarded-host", host);
  out.push("via", via === undefined ? VIA : `${via}, ${VIA}`);
  return connectionTokens === undefined ? out : dropConnectionNamed(out, connectionTokens);
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
  const result = out ?? raw;
  result.push("via", via === undefined ? VIA : `${via}, ${VIA}`);
  return connectionTokens === undefined ? result : dropConnectionNamed(result, connectionTokens);
}

/** Drops the fields a Connection header names (RFC 9110 §7.6.1); rare, so a second pass. */
function dropConnectionNamed(headers: string[], tokens: string): string[] {
  // Nearly always a lone "keep-alive" or "close", which names no field: no work, no garbage.
  if (CONNECTION_OPTIONS.has(tokens) || CONNECTION_OPTIONS.has(tokens.trim().toLowerCase()))
    return headers;
  const named = new Set(
    tokens
      .split(",")
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== "" && !CONNECTION_OPTIONS.has(t)),
  );
  if (named.size === 0) return headers;
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!named.has((headers[i] as string).toLowerCase()))
      out.push(headers[i] as string, headers[i + 1] as string);
  }
  return out;
}
