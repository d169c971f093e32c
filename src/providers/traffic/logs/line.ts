/**
 * The access-log line contract the HAProxy and nginx configurations render, one request each:
 *
 *   aviary1 svc=<service> ver=<version> role=<stable|canary> st=<status> ms=<duration>
 *
 * optionally followed by ` fail=<connect|timeout|reset>` when no usable response came from the
 * upstream (then `st` is what the engine answered). `sec=<seconds>` may replace `ms=`. Tokens
 * in this order, single spaces, printable ASCII. Anything else is malformed: the engines render
 * the line themselves, so a line that differs is a broken configuration or not theirs, and
 * guessing at it would put made-up requests into a canary's figures.
 *
 * @module
 */

import type { FailureKind } from "../../../dataplane/metrics/types.js";

/** One request as the engine logged it. */
export interface LogEntry {
  service: string;
  version: string;
  role: "stable" | "canary";
  status: number;
  latencyMs: number;
  /** Set when no usable response came from the upstream. */
  failure?: FailureKind;
}

export type LineResult = { ok: true; entry: LogEntry } | { ok: false; reason: string };

const MAGIC = "aviary1";
const FAILURES: ReadonlySet<string> = new Set<FailureKind>(["connect", "timeout", "reset"]);
// Up to 9 digits each side: 10^9 ms is 11 days, longer than any request an engine would log.
const DECIMAL = /^\d{1,9}(\.\d{1,9})?$/;
const STATUS = /^[1-5]\d\d$/;
// The keys of the fields after the magic, in order.
const KEYS: ReadonlyArray<readonly string[]> = [
  ["svc"],
  ["ver"],
  ["role"],
  ["st"],
  ["ms", "sec"],
  ["fail"],
];

/** Parses one message body; never throws. */
export function parseLine(body: string): LineResult {
  const tokens = body.split(" ");
  if (tokens[0] !== MAGIC) return bad(`does not start with "${MAGIC} "`);
  if (tokens.length < 6 || tokens.length > 7)
    return bad(`expected 5 or 6 fields after ${MAGIC}, got ${tokens.length - 1}`);

  const values: string[] = [];
  let inSeconds = false;
  for (let i = 1; i < tokens.length; i++) {
    const token = tokens[i] as string;
    const eq = token.indexOf("=");
    const key = eq === -1 ? token : token.slice(0, eq);
    const expected = KEYS[i - 1] as readonly string[];
    if (token.length === 0) return bad("fields must be separated by single spaces");
    if (eq === -1 || !expected.includes(key))
      return bad(`field ${i} must be ${expected.join(" or ")}=...`);
    const value = token.slice(eq + 1);
    if (value.length === 0) return bad(`${key} is empty`);
    if (!printableWithoutEquals(value))
      return bad(`${key} holds a byte outside printable ASCII or an '='`);
    if (key === "sec") inSeconds = true;
    values.push(value);
  }
  const [service, version, role, st, duration, failure] = values as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];

  if (role !== "stable" && role !== "canary") return bad("role must be stable or canary");
  if (!STATUS.test(st)) return bad("st must be a status code from 100 to 599");
  if (!DECIMAL.test(duration))
    return bad(`${inSeconds ? "sec" : "ms"} must be a non-negative decimal number`);
  if (failure !== undefined && !FAILURES.has(failure))
    return bad("fail must be connect, timeout or reset");

  const latencyMs = inSeconds ? Number(duration) * 1000 : Number(duration);
  const entry: LogEntry = { service, version, role, status: Number(st), latencyMs };
  if (failure !== undefined) entry.failure = failure as FailureKind;
  return { ok: true, entry };
}

function printableWithoutEquals(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126 || c === 61) return false;
  }
  return true;
}

function bad(reason: string): LineResult {
  return { ok: false, reason };
}
