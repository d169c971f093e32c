/**
 * A tracking batch, as applications send it to `POST /aviary/v1/flags/track`: pre-aggregated
 * exposures and events per (flag, variant). The whole batch is checked before anything is
 * counted, so a malformed one (a 400 naming the place) changes no count; items naming a flag or
 * variant the served flags do not have, or a business event name past the flag's limit, are
 * refused one by one and named in the answer while the rest count.
 *
 * ```json
 * { "exposures": [{ "flag": "new-checkout", "variant": "on", "count": 120 }],
 *   "events": [
 *     { "name": "error", "flag": "new-checkout", "variant": "on", "count": 3 },
 *     { "name": "latency", "flag": "new-checkout", "variant": "on", "values": [12.5, 40] },
 *     { "name": "checkout-completed", "flag": "new-checkout", "variant": "on", "count": 9 } ] }
 * ```
 *
 * `error` and `latency` are reserved: an error event counts against the variant's error rate,
 * a latency event is one value in ms for its latency sketch (`values`, one per event; `count`,
 * if given, must be their number). Any other name is a business event with a `count`
 * (default 1).
 *
 * @module
 */

import { MAX_MS } from "../dataplane/metrics/latency-sketch.js";
import type { FlagSet } from "../flags/served.js";
import type { FlagWindows } from "./windows.js";

export const ERROR_EVENT = "error";
export const LATENCY_EVENT = "latency";

export interface BatchLimits {
  /** Exposures and events in one batch (default 1,000). */
  maxItems: number;
  /** The largest `count` of one item (default 1,000,000): one second of a busy service. */
  maxCount: number;
  /** Latency values in one item (default 1,000) and in one batch (10 × that). */
  maxValues: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = {
  maxItems: 1_000,
  maxCount: 1_000_000,
  maxValues: 1_000,
};

/** Event names: short, printable, no spaces; the same alphabet as metric names. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export type Item =
  | { kind: "exposure"; flag: string; variant: string; count: number }
  | { kind: "error"; flag: string; variant: string; count: number }
  | { kind: "latency"; flag: string; variant: string; values: number[] }
  | { kind: "event"; flag: string; variant: string; name: string; count: number };

export interface Refused {
  at: string;
  flag: string;
  variant: string;
  name?: string;
  reason: string;
}

export type Checked =
  | { ok: false; at: string; message: string }
  | { ok: true; items: Item[]; refused: Refused[] };

class Bad extends Error {
  constructor(
    readonly at: string,
    message: string,
  ) {
    super(message);
  }
}

/** Checks a parsed body against the served flags and the windows' name limits; counts nothing. */
export function checkBatch(
  body: unknown,
  set: FlagSet,
  windows: FlagWindows,
  limits: BatchLimits = DEFAULT_BATCH_LIMITS,
): Checked {
  try {
    return check(body, set, windows, limits);
  } catch (err) {
    if (err instanceof Bad) return { ok: false, at: err.at, message: err.message };
    throw err;
  }
}

/** Counts a checked batch's items, all stamped with the time of receipt. */
export function applyBatch(items: readonly Item[], windows: FlagWindows): void {
  for (const it of items) {
    if (it.kind === "exposure") windows.exposures(it.flag, it.variant, it.count);
    else if (it.kind === "error") windows.errors(it.flag, it.variant, it.count);
    else if (it.kind === "latency") windows.latencies(it.flag, it.variant, it.values);
    else windows.event(it.flag, it.variant, it.name, it.count);
  }
}

function check(body: unknown, set: FlagSet, windows: FlagWindows, limits: BatchLimits): Checked {
  const top = object(body, "body");
  onlyKeys(top, "body", ["exposures", "events"]);
  const exposures = list(top.exposures, "exposures");
  const events = list(top.events, "events");
  const total = exposures.length + events.length;
  if (total === 0) throw new Bad("body", "the batch has no exposures and no events");
  if (total > limits.maxItems)
    throw new Bad(
      "body",
      `the batch has ${total} items, more than ${limits.maxItems}: send smaller batches`,
    );
  const items: Item[] = [];
  const refused: Refused[] = [];
  // Names this batch would add, per flag: they count against the limit before any is added.
  const added = new Map<string, Set<string>>();
  let values = 0;
  const kept = new Map<string, ReadonlySet<string>>();
  const keptOf = (flag: string) => {
    let k = kept.get(flag);
    if (k === undefined) {
      k = windows.names(flag);
      kept.set(flag, k);
    }
    return k;
  };
  const known = (at: string, flag: string, variant: string, name?: string): boolean => {
    const f = set.flags.get(flag);
    const reason =
      f === undefined
        ? `no flag ${flag} in the applied spec`
        : !(variant in f.flag.variants)
          ? `flag ${flag} has no variant ${variant} (variants: ${Object.keys(f.flag.variants).join(", ")})`
          : undefined;
    if (reason === undefined) return true;
    refused.push({ at, flag, variant, ...(name !== undefined ? { name } : {}), reason });
    return false;
  };
  exposures.forEach((raw, i) => {
    const at = `exposures[${i}]`;
    const o = object(raw, at);
    onlyKeys(o, at, ["flag", "variant", "count"]);
    const flag = text(o.flag, `${at}.flag`);
    const variant = text(o.variant, `${at}.variant`);
    const count = countOf(o.count, `${at}.count`, limits, undefined);
    if (known(at, flag, variant)) items.push({ kind: "exposure", flag, variant, count });
  });
  events.forEach((raw, i) => {
    const at = `events[${i}]`;
    const o = object(raw, at);
    onlyKeys(o, at, ["name", "flag", "variant", "count", "values"]);
    const name = text(o.name, `${at}.name`);
    if (!NAME.test(name))
      throw new Bad(
        `${at}.name`,
        `event name ${JSON.stringify(name.slice(0, 80))} is not 1-64 letters, digits, . _ : - starting with a letter or digit`,
      );
    const flag = text(o.flag, `${at}.flag`);
    const variant = text(o.variant, `${at}.variant`);
    if (name === LATENCY_EVENT) {
      const vs = latencyValues(o.values, `${at}.values`, limits);
      if (o.count !== undefined && countOf(o.count, `${at}.count`, limits, 1) !== vs.length)
        throw new Bad(`${at}.count`, `count must be the number of values (${vs.length}) or absent`);
      values += vs.length;
      if (values > limits.maxValues * 10)
        throw new Bad(
          `${at}.values`,
          `the batch has more than ${limits.maxValues * 10} latency values: send smaller batches`,
        );
      if (known(at, flag, variant)) items.push({ kind: "latency", flag, variant, values: vs });
      return;
    }
    if (o.values !== undefined)
      throw new Bad(
        `${at}.values`,
        `only a ${LATENCY_EVENT} event has values; ${name} has a count`,
      );
    const count = countOf(o.count, `${at}.count`, limits, 1);
    if (!known(at, flag, variant, name)) return;
    if (name === ERROR_EVENT) {
      items.push({ kind: "error", flag, variant, count });
      return;
    }
    let mine = added.get(flag);
    if (mine === undefined) {
      mine = new Set();
      added.set(flag, mine);
    }
    const have = keptOf(flag);
    if (!have.has(name) && !mine.has(name) && mine.size >= windows.nameRoom(flag)) {
      refused.push({
        at,
        flag,
        variant,
        name,
        reason: `flag ${flag} already has ${windows.maxEventNames} event names in its window; ${name} is not kept`,
      });
      return;
    }
    if (!have.has(name)) mine.add(name);
    items.push({ kind: "event", flag, variant, name, count });
  });
  return { ok: true, items, refused };
}

function object(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new Bad(at, `${at} must be an object, got ${kind(v)}`);
  return v as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, at: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o))
    if (!allowed.includes(k))
      throw new Bad(
        `${at}.${k.slice(0, 40)}`,
        `unknown field ${JSON.stringify(k.slice(0, 40))} (expected ${allowed.join(", ")})`,
      );
}

function list(v: unknown, at: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new Bad(at, `${at} must be a list, got ${kind(v)}`);
  return v;
}

function text(v: unknown, at: string): string {
  if (typeof v !== "string" || v === "" || v.length > 256)
    throw new Bad(at, `${at} must be a string of 1-256 characters, got ${kind(v)}`);
  return v;
}

function countOf(
  v: unknown,
  at: string,
  limits: BatchLimits,
  fallback: number | undefined,
): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > limits.maxCount)
    throw new Bad(
      at,
      `${at} must be a whole number from 1 to ${limits.maxCount}, got ${JSON.stringify(v) ?? "nothing"}`,
    );
  return v;
}

function latencyValues(v: unknown, at: string, limits: BatchLimits): number[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > limits.maxValues)
    throw new Bad(
      at,
      `${at} must be a list of 1 to ${limits.maxValues} latencies in ms (a latency event has values, not a count), got ${kind(v)}`,
    );
  v.forEach((x, i) => {
    if (typeof x !== "number" || !Number.isFinite(x) || x < 0 || x > MAX_MS)
      throw new Bad(`${at}[${i}]`, `a latency must be ms from 0 to ${MAX_MS}, got ${kind(x)}`);
  });
  return v as number[];
}

function kind(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "number") return String(v);
  return typeof v;
}
