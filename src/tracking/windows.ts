/**
 * Per-variant windows of a flag: what applications reported through the tracking endpoint,
 * one-second buckets per (flag key, variant), bounded in time like the router's per-version
 * windows (the spec's `metrics.window`). Each second holds exposures (evaluations that gave
 * the variant), error events, latency events in a sketch, and counts of named business events.
 *
 * The analysis reads a flag as it reads a service: `query({service: "flag:<key>", version:
 * <variant>})` answers a {@link WindowSummary} whose requests are exposures, errors the error
 * events and latency the latency events, so the `builtin` provider measures a flag unchanged;
 * {@link eventCounts} gives a business event per exposure for the `flagEvent` provider.
 *
 * Memory is bounded by what the served flags declare: a (flag, variant) is only recorded when
 * the tracking endpoint found both in the flag set, each keeps at most window + 1 seconds, and
 * each flag at most `maxEventNames` distinct business event names at once (a name none of whose
 * events is left in the window frees its place).
 *
 * @module
 */

import { MAX_MS } from "../dataplane/metrics/latency-sketch.js";
import { SecondBucket } from "../dataplane/metrics/second-bucket.js";
import type { WindowQuery, WindowSummary } from "../dataplane/metrics/types.js";
import { type SecondsSource, summarizeWindow } from "../dataplane/metrics/window.js";
import { FLAG_SUBJECT_PREFIX } from "../flags/subjects.js";
import { decodeBucket, encodeBucket } from "../fleet/windows.js";
import { type Clock, systemClock } from "../util/clock.js";
import type { ReportedFlagSecond, ReportedFlagSeries, TrackingWindows } from "./report.js";

/** The outcome slot latency events are counted in (any slot would do: only their sum is read). */
const LATENCY_SLOT = 1;
const DEFAULT_WINDOW_MS = 15 * 60 * 1000;
export const DEFAULT_MAX_EVENT_NAMES = 32;

export interface FlagWindowsOptions {
  /** How far back queries reach, in ms (default 15 min, at least 1 s): the spec's `metrics.window`. */
  windowMs?: number;
  /** Distinct business event names kept per flag (default 32); more are refused. */
  maxEventNames?: number;
  clock?: Clock;
}

/** One second of one (flag, variant). */
class FlagSecond {
  second = -1;
  exposures = 0;
  errors = 0;
  /** Latency events; its slot counts are those events, so its sketch is theirs alone. */
  readonly latency = new SecondBucket();
  /** Business events by the flag's name index. */
  events: number[] = [];

  reset(second: number): void {
    this.second = second;
    this.exposures = 0;
    this.errors = 0;
    this.latency.reset(second);
    this.events.fill(0);
  }
}

/** The ring of one (flag, variant); seconds are made on first use and reused as it wraps. */
class VariantRing implements SecondsSource {
  readonly seconds: number;
  readonly #slots: (FlagSecond | undefined)[];

  constructor(seconds: number) {
    this.seconds = seconds;
    this.#slots = new Array(seconds);
  }

  at(second: number): FlagSecond {
    const i = second % this.seconds;
    let s = this.#slots[i];
    if (s === undefined) {
      s = new FlagSecond();
      this.#slots[i] = s;
    }
    if (s.second !== second) s.reset(second);
    return s;
  }

  held(second: number): FlagSecond | undefined {
    const s = this.#slots[second % this.seconds];
    return s !== undefined && s.second === second ? s : undefined;
  }

  bucketAt(second: number) {
    return this.held(second)?.latency;
  }
}

/** What a held second offers a query, whichever instance counted it. */
interface HeldSecond {
  readonly exposures: number;
  readonly errors: number;
  readonly latency: SecondBucket;
}

/** Seconds of one (flag, variant) as another instance reported them. */
interface RemoteSecond extends HeldSecond {
  readonly second: number;
  readonly events: ReadonlyMap<string, number>;
}

/** Another instance's seconds of one (flag, variant), by epoch second. */
class RemoteSeconds implements SecondsSource {
  readonly seconds: number;
  readonly #held = new Map<number, RemoteSecond>();

  constructor(seconds: number) {
    this.seconds = seconds;
  }

  held(second: number): RemoteSecond | undefined {
    return this.#held.get(second);
  }

  bucketAt(second: number): SecondBucket | undefined {
    return this.#held.get(second)?.latency;
  }

  set(s: RemoteSecond): void {
    this.#held.set(s.second, s);
  }

  /** Forgets the seconds at or before `second`; true when nothing is left. */
  prune(second: number): boolean {
    for (const k of this.#held.keys()) if (k <= second) this.#held.delete(k);
    return this.#held.size === 0;
  }
}

/** Why part of a report from another instance was not taken. */
export interface MergeRefusal {
  flag: string;
  variant: string;
  reason: string;
}

interface FlagEntry {
  readonly variants: Map<string, VariantRing>;
  /** Business event name → its index in each second's `events` and the last second it was seen. */
  readonly names: Map<string, { index: number; last: number }>;
}

/** The counts of one business event and the exposures it is out of, over a window. */
export interface EventCounts {
  exposures: number;
  events: number;
  /** The window actually covered, as in {@link WindowSummary}. */
  from: number;
  seconds: number;
}

export class FlagWindows {
  readonly #clock: Clock;
  readonly #windowSeconds: number;
  readonly #maxNames: number;
  readonly #flags = new Map<string, FlagEntry>();
  /** Other instances' seconds: instance → flag → variant. */
  readonly #remote = new Map<string, Map<string, Map<string, RemoteSeconds>>>();

  constructor(opts: FlagWindowsOptions = {}) {
    const windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
    if (!Number.isFinite(windowMs) || windowMs < 1000)
      throw new RangeError(`flag windowMs must be a number of ms ≥ 1000, got ${windowMs}`);
    this.#windowSeconds = Math.ceil(windowMs / 1000);
    this.#maxNames = opts.maxEventNames ?? DEFAULT_MAX_EVENT_NAMES;
    this.#clock = opts.clock ?? systemClock;
  }

  get maxEventNames(): number {
    return this.#maxNames;
  }

  /** Whether one more event of `name` for `flag` would be kept (a known name, or room for one). */
  canName(flag: string, name: string): boolean {
    return this.names(flag).has(name) || this.nameRoom(flag) > 0;
  }

  /** The business event names a flag has events of in its window. */
  names(flag: string): ReadonlySet<string> {
    return new Set(this.eventNames(flag));
  }

  /** How many more business event names the flag can take now. */
  nameRoom(flag: string): number {
    return this.#maxNames - this.eventNames(flag).length;
  }

  /** The business event names a flag has events of in its window, for listing. */
  eventNames(flag: string): string[] {
    const names = this.#flags.get(flag)?.names;
    if (names === undefined) return [];
    const gone = this.#expired();
    return [...names].filter(([, n]) => n.last > gone).map(([name]) => name);
  }

  exposures(flag: string, variant: string, count: number): void {
    this.#now(flag, variant).exposures += count;
  }

  errors(flag: string, variant: string, count: number): void {
    this.#now(flag, variant).errors += count;
  }

  /** Latency events, one per value (ms, clamped to [0, MAX_MS] as the router clamps). */
  latencies(flag: string, variant: string, valuesMs: readonly number[]): void {
    const s = this.#now(flag, variant);
    for (const v of valuesMs) s.latency.add(LATENCY_SLOT, Math.min(MAX_MS, Math.max(0, v)));
  }

  /** Business events; false (nothing counted) when the flag already has its fill of names. */
  event(flag: string, variant: string, name: string, count: number): boolean {
    if (!this.canName(flag, name)) return false;
    const s = this.#now(flag, variant);
    const names = this.#entry(flag).names;
    let n = names.get(name);
    if (n === undefined) {
      n = { index: this.#freeIndex(names), last: s.second };
      names.set(name, n);
    }
    n.last = s.second;
    const i = n.index;
    while (s.events.length <= i) s.events.push(0);
    s.events[i]! += count;
    return true;
  }

  /** Drops what is kept of flags and variants no longer served, so retired ones free memory. */
  retain(served: Served): void {
    dropUnserved(this.#flags, (e) => e.variants, served);
    for (const flags of this.#remote.values()) dropUnserved(flags, (variants) => variants, served);
  }

  /**
   * What this instance counted in the epoch seconds `[from, to]`, for the other instances: the
   * seconds the rings still hold that counted anything.
   */
  export(from: number, to: number): TrackingWindows {
    const series: ReportedFlagSeries[] = [];
    for (const [flag, entry] of this.#flags) {
      const nameOf = new Map([...entry.names].map(([name, n]) => [n.index, name]));
      for (const [variant, ring] of entry.variants) {
        const seconds: ReportedFlagSecond[] = [];
        for (let second = Math.max(from, to - ring.seconds + 1); second <= to; second++) {
          const h = ring.held(second);
          if (h === undefined) continue;
          const row: ReportedFlagSecond = { s: second, x: h.exposures, e: h.errors };
          const l = encodeBucket(h.latency);
          if (l !== undefined) row.l = l;
          const n: Record<string, number> = {};
          h.events.forEach((count, i) => {
            const name = nameOf.get(i);
            if (count > 0 && name !== undefined) n[name] = count;
          });
          if (Object.keys(n).length > 0) row.n = n;
          if (row.x > 0 || row.e > 0 || row.l !== undefined || row.n !== undefined)
            seconds.push(row);
        }
        if (seconds.length > 0) series.push({ flag, variant, seconds });
      }
    }
    return { v: 1, from, to, series };
  }

  /**
   * Takes what `instance` reported (already checked against `TrackingWindowsSchema`): each
   * second in it replaces what was known of that second from that instance. Only flags and
   * variants `accepts` (the served flags) are kept, only seconds a query can still reach, and
   * at most `maxEventNames` business event names per second; the refused parts are returned.
   */
  merge(
    instance: string,
    report: TrackingWindows,
    accepts: (flag: string, variant: string) => boolean,
  ): MergeRefusal[] {
    const refused: MergeRefusal[] = [];
    const gone = this.#expired();
    for (const { flag, variant, seconds } of report.series) {
      if (!accepts(flag, variant)) {
        refused.push({ flag, variant, reason: "not a served flag and variant" });
        continue;
      }
      for (const r of seconds) {
        if (r.s <= gone || r.s < report.from || r.s > report.to) continue;
        const latency = r.l === undefined ? new SecondBucket() : decodeBucket(r.l);
        if (typeof latency === "string") {
          refused.push({ flag, variant, reason: `second ${r.s}: latency ${latency}` });
          continue;
        }
        const names = Object.entries(r.n ?? {});
        if (names.length > this.#maxNames) {
          refused.push({
            flag,
            variant,
            reason: `second ${r.s}: more than ${this.#maxNames} event names`,
          });
          continue;
        }
        latency.second = r.s;
        const flags = made(this.#remote, instance, () => new Map());
        const held = made(
          made(flags, flag, () => new Map()),
          variant,
          () => new RemoteSeconds(this.#windowSeconds + 1),
        );
        held.set({ second: r.s, exposures: r.x, errors: r.e, latency, events: new Map(names) });
      }
    }
    this.#pruneRemote();
    return refused;
  }

  /** Forgets what `instance` reported. */
  forget(instance: string): void {
    this.#remote.delete(instance);
  }

  /** The instances whose reported seconds are held. */
  remoteInstances(): string[] {
    this.#pruneRemote();
    return [...this.#remote.keys()];
  }

  #pruneRemote(): void {
    const gone = this.#expired();
    for (const [instance, flags] of this.#remote) {
      for (const [flag, variants] of flags) {
        for (const [variant, held] of variants) if (held.prune(gone)) variants.delete(variant);
        if (variants.size === 0) flags.delete(flag);
      }
      if (flags.size === 0) this.#remote.delete(instance);
    }
  }

  /**
   * A variant's window as the router's registry answers a version's: `q.service` is
   * `flag:<key>`, `q.version` the variant. Requests are exposures, errors the error events
   * (at most the exposures: an application reporting errors of users it never exposed cannot
   * push a rate past 1), latency the latency events.
   */
  query(q: WindowQuery): WindowSummary {
    const { from, to, key, ring } = this.#window(q.service, q.version, q.from, q.to);
    const remote = this.#remoteOf(key, q.version);
    const sources: (VariantRing | RemoteSeconds)[] = ring ? [ring, ...remote] : remote;
    const latency = summarizeWindow(sources, q.service, q.version, from, to);
    let requests = 0;
    let errors = 0;
    for (const source of sources) {
      this.#each<HeldSecond>(source, from, to, (s) => {
        requests += s.exposures;
        errors += s.errors;
      });
    }
    errors = Math.min(errors, requests);
    const seconds = latency.seconds;
    return {
      ...latency,
      requests,
      responses: { "1xx": 0, "2xx": requests - errors, "3xx": 0, "4xx": 0, "5xx": errors },
      failures: { connect: 0, timeout: 0, reset: 0 },
      errors,
      errorRate: requests > 0 ? errors / requests : Number.NaN,
      rps: seconds > 0 ? requests / seconds : Number.NaN,
    };
  }

  /** A business event's count and the exposures it is out of, for `flag:<key>` and a variant. */
  eventCounts(
    subject: string,
    variant: string,
    name: string,
    qFrom: number,
    qTo: number,
  ): EventCounts {
    const { from, to, key, ring } = this.#window(subject, variant, qFrom, qTo);
    const i = this.#flags.get(key)?.names.get(name)?.index;
    let exposures = 0;
    let events = 0;
    this.#each(ring, from, to, (s) => {
      exposures += s.exposures;
      if (i !== undefined) events += s.events[i] ?? 0;
    });
    for (const held of this.#remoteOf(key, variant)) {
      this.#each(held, from, to, (s) => {
        exposures += s.exposures;
        events += s.events.get(name) ?? 0;
      });
    }
    return { exposures, events, from, seconds: Math.max(0, to - from) / 1000 };
  }

  #window(
    subject: string,
    variant: string,
    qFrom: number,
    qTo: number,
  ): { from: number; to: number; key: string; ring: VariantRing | undefined } {
    if (!Number.isFinite(qFrom) || !Number.isFinite(qTo) || qTo <= qFrom)
      throw new RangeError(
        `flag metrics query needs finite epoch ms with from < to, got from=${qFrom} to=${qTo}`,
      );
    if (!subject.startsWith(FLAG_SUBJECT_PREFIX))
      throw new RangeError(`flag metrics answer for flag:<key> subjects, not ${subject}`);
    const key = subject.slice(FLAG_SUBJECT_PREFIX.length);
    const ring = this.#flags.get(key)?.variants.get(variant);
    const heldFrom = (Math.floor(this.#clock.now() / 1000) - this.#windowSeconds) * 1000;
    return { from: Math.min(qTo, Math.max(qFrom, heldFrom)), to: qTo, key, ring };
  }

  #remoteOf(key: string, variant: string): RemoteSeconds[] {
    const out: RemoteSeconds[] = [];
    for (const flags of this.#remote.values()) {
      const held = flags.get(key)?.get(variant);
      if (held !== undefined) out.push(held);
    }
    return out;
  }

  /** Each held second whose start lies in [from, to), as the router's windows count them. */
  #each<S extends HeldSecond>(
    ring: { readonly seconds: number; held(second: number): S | undefined } | undefined,
    from: number,
    to: number,
    fn: (s: S) => void,
  ): void {
    if (ring === undefined) return;
    const first = Math.ceil(from / 1000);
    const last = Math.min(Math.ceil(to / 1000) - 1, first + ring.seconds - 1);
    for (let second = first; second <= last; second++) {
      const s = ring.held(second);
      if (s !== undefined) fn(s);
    }
  }

  /** Seconds at or before this hold nothing a query can still reach. */
  #expired(): number {
    return Math.floor(this.#clock.now() / 1000) - this.#windowSeconds - 1;
  }

  /**
   * An index for a new name: the next one, or that of a name whose events have all left the
   * window (every second still held that used the index has been reset since, or is out of reach).
   */
  #freeIndex(names: Map<string, { index: number; last: number }>): number {
    const gone = this.#expired();
    for (const [old, n] of names) {
      if (n.last <= gone) {
        names.delete(old);
        return n.index;
      }
    }
    return names.size;
  }

  #entry(flag: string): FlagEntry {
    return made(this.#flags, flag, () => ({ variants: new Map(), names: new Map() }));
  }

  #now(flag: string, variant: string): FlagSecond {
    // One second more than the window, so a full window ending mid-second is still held.
    const ring = made(
      this.#entry(flag).variants,
      variant,
      () => new VariantRing(this.#windowSeconds + 1),
    );
    return ring.at(Math.floor(this.#clock.now() / 1000));
  }
}

/** The served flags, as far as the windows care: which variants each has. */
type Served = ReadonlyMap<string, { flag: { variants: Record<string, unknown> } }>;

/** Drops the flags `served` no longer has, and the variants of the others it no longer has. */
function dropUnserved<E>(
  byFlag: Map<string, E>,
  variantsOf: (entry: E) => Map<string, unknown>,
  served: Served,
): void {
  for (const [key, entry] of byFlag) {
    const f = served.get(key);
    if (f === undefined) {
      byFlag.delete(key);
      continue;
    }
    const variants = variantsOf(entry);
    for (const v of variants.keys()) if (!(v in f.flag.variants)) variants.delete(v);
  }
}

/** The value at `key`, made and set first when there is none. */
function made<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}
