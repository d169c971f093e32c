/**
 * Request-path normalisation before a service is matched, so that what the router matches is
 * what the upstream receives. Without it `/shop/../admin` and `/shop/%2e%2e/admin` match the
 * `/shop` prefix while a typical upstream resolves them to `/admin`.
 *
 * What is done (RFC 3986 §6.2.2, in this order, on the path only — the query is untouched):
 * - percent-encoded unreserved characters (`%2e`, `%41`, `%7E`, …) are decoded, other escapes
 *   keep their encoding with upper-case hex digits (`%c3%bc` → `%C3%BC`);
 * - runs of slashes merge into one (`//a///b` → `/a/b`), as nginx's `merge_slashes` and
 *   Envoy's `merge_slashes` do; merging first means `/shop//../admin` is `/admin`, which is
 *   what an upstream that merges slashes itself would make of it;
 * - dot segments are removed; `..` at the root stays at the root (`/../x` → `/x`), as
 *   RFC 3986 §5.2.4 and Envoy's `normalize_path` do.
 *
 * What is refused (the router answers 400): an invalid escape (`%zz`, a lone `%`), a raw
 * backslash and a raw `#`. None is valid in a request target (RFC 3986 §3.3, RFC 9112 §3.2),
 * and upstreams disagree on what they mean (`\` is a separator to IIS and WHATWG URL parsers,
 * `#` starts a fragment to some and is literal to others), so no answer is safe to guess.
 *
 * `%2F` and `%5C` (escaped slash and backslash) are kept escaped, never decoded: they are
 * ordinary characters inside a segment, so they cannot move a request across a prefix
 * boundary here, and APIs that carry them on purpose (GitLab's `group%2Fproject`, object keys)
 * keep working. This is Envoy's default (`path_with_escaped_slashes_action: KEEP_UNCHANGED`).
 * An upstream that decodes them into separators is outside what a prefix router can protect.
 *
 * @module
 */

import type { IncomingMessage } from "node:http";

/**
 * Normalises `req.url` in place. Returns false when the path must be refused (the caller
 * answers 400). A request target not in origin-form (`*`, `http://…`) is left alone.
 */
export function normalizeRequestUrl(req: IncomingMessage): boolean {
  const url = req.url ?? "/";
  const normalized = normalizeRequestTarget(url);
  if (normalized === undefined) return false;
  if (normalized !== url) req.url = normalized;
  return true;
}

/**
 * The normalised request target (path normalised, query kept as sent), the same string when
 * nothing changes, or undefined when the path is refused.
 */
export function normalizeRequestTarget(target: string): string | undefined {
  if (target.charCodeAt(0) !== 47 /* / */) return target;
  // The hot path: almost every path has no `%`, `\`, `#`, `//` or `/.`; one scan, no garbage.
  let end = target.length;
  let work = false;
  let prev = 0;
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 63 /* ? */) {
      end = i;
      break;
    }
    // `%`, `\`, `#`, or `//` and `/.` (47 is `/`, 46 is `.`).
    if (c === 37 || c === 92 || c === 35 || (prev === 47 && (c === 47 || c === 46))) work = true;
    prev = c;
  }
  if (!work) return target;
  const path = normalizePath(target.slice(0, end));
  if (path === undefined) return undefined;
  return end === target.length ? path : path + target.slice(end);
}

/** Normalises an absolute path (starting with `/`, no query); undefined when refused. */
export function normalizePath(path: string): string | undefined {
  const decoded = decodeUnreserved(path);
  if (decoded === undefined) return undefined;
  const segments = decoded.split("/");
  const out: string[] = [];
  // segments[0] is the empty string before the leading slash.
  let trailingSlash = false;
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] as string;
    const last = i === segments.length - 1;
    if (s === "" || s === ".") {
      trailingSlash = last;
    } else if (s === "..") {
      out.pop();
      trailingSlash = last;
    } else {
      out.push(s);
      trailingSlash = false;
    }
  }
  if (out.length === 0) return "/";
  return `/${out.join("/")}${trailingSlash ? "/" : ""}`;
}

const HEX = "0123456789ABCDEF";

/** Decodes escapes of unreserved characters, upper-cases the rest; undefined when refused. */
function decodeUnreserved(path: string): string | undefined {
  let out = "";
  let from = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 92 /* \ */ || c === 35 /* # */) return undefined;
    if (c !== 37 /* % */) continue;
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return undefined;
    const byte = hi * 16 + lo;
    out += path.slice(from, i);
    out += isUnreserved(byte)
      ? String.fromCharCode(byte)
      : `%${HEX[hi] as string}${HEX[lo] as string}`;
    i += 2;
    from = i + 1;
  }
  return from === 0 ? path : out + path.slice(from);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3). */
function isUnreserved(b: number): boolean {
  return (
    (b >= 65 && b <= 90) ||
    (b >= 97 && b <= 122) ||
    (b >= 48 && b <= 57) ||
    b === 45 ||
    b === 46 ||
    b === 95 ||
    b === 126
  );
}
