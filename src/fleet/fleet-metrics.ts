/**
 * The whole fleet's per-version figures, on the instance that runs the analysis: every
 * router's reported seconds (see `windows.ts`), added together per second, answering the same
 * window queries as one router's {@link MetricsRegistry}. Two routers' seconds merged are
 * exactly the sum of their counts and sketches: buckets add key by key.
 *
 * It also knows what it does not know. Each router's covered seconds are kept; a window that a
 * router should have covered but did not report (it stopped reporting, or reports late) is
 * named by {@link FleetMetrics.gaps}, and the fleet metric provider turns that into an
 * inconclusive measurement instead of judging the part of the traffic it has.
 *
 * @module
 */

import type { SecondBucket } from "../dataplane/metrics/second-bucket.js";
import type { Role, WindowQuery, WindowSummary } from "../dataplane/metrics/types.js";
import { type SecondsSource, summarizeWindow } from "../dataplane/metrics/window.js";
import type { RouterReport } from "../store/store.js";
import type { Clock } from "../util/clock.js";
import { decodeBucket, type ReportedWindows, ReportedWindowsSchema } from "./windows.js";

const LIVE_ROLES: readonly Role[] = ["stable", "canary"];

/** One router's seconds of one (service, version, role). */
class ReportedSeconds implements SecondsSource {
  readonly buckets = new Map<number, SecondBucket>();
  constructor(readonly seconds: number) {}
  bucketAt(second: number): SecondBucket | undefined {
    return this.buckets.get(second);
  }
}

interface RouterSeconds {
  /** Covered seconds as sorted, disjoint, inclusive ranges. */
  covered: Array<[number, number]>;
  /** First second this instance knows the router covered: it is expected from there on. */
  firstSecond: number;
  /** It left cleanly (or was retired) after this second: nothing is expected after it. */
  leftAfter: number | undefined;
  /** When its last report arrived (control-plane clock, ms). */
  lastReportAt: number;
  series: Map<string, ReportedSeconds>;
}

export interface FleetMetricsOptions {
  /** The spec's metrics window (ms): how far back seconds are kept. */
  windowMs: number;
  clock: Clock;
}

export class FleetMetrics {
  readonly #clock: Clock;
  readonly #windowSeconds: number;
  readonly #routers = new Map<string, RouterSeconds>();
  /** The first second this instance has the fleet's reports for: nothing before it is known. */
  readonly #knownSince: number;
  /** Each router's report last taken (its time and range): one read twice is skipped. */
  readonly #taken = new Map<string, string>();

  constructor(opts: FleetMetricsOptions) {
    this.#clock = opts.clock;
    this.#windowSeconds = Math.ceil(opts.windowMs / 1000);
    this.#knownSince = Math.floor(opts.clock.now() / 1000);
  }

  /**
   * Takes a router's report (as stored). Seconds it carries replace what was held for them
   * (a second is final once reported: it is over). Returns a problem in words, or undefined.
   */
  ingest(report: RouterReport): string | undefined {
    const w0 = report.windows as { from?: unknown; to?: unknown } | null;
    const stamp = `${report.at} ${String(w0?.from)} ${String(w0?.to)}`;
    if (this.#taken.get(report.router) === stamp) return undefined;
    const parsed = ReportedWindowsSchema.safeParse(report.windows);
    if (!parsed.success) return `router ${report.router}: its windows are malformed`;
    this.#taken.set(report.router, stamp);
    const w: ReportedWindows = parsed.data;
    let r = this.#routers.get(report.router);
    if (r === undefined) {
      r = {
        covered: [],
        firstSecond: Math.max(w.from, this.#knownSince),
        leftAfter: undefined,
        lastReportAt: report.at,
        series: new Map(),
      };
      this.#routers.set(report.router, r);
    }
    r.lastReportAt = Math.max(r.lastReportAt, report.at);
    r.leftAfter = w.final ? w.to : undefined;
    for (const s of w.series) {
      const key = seriesKey(s.service, s.version, s.role);
      let held = r.series.get(key);
      if (held === undefined) {
        held = new ReportedSeconds(this.#windowSeconds + 1);
        r.series.set(key, held);
      }
      for (const row of s.seconds) {
        const b = decodeBucket(row);
        if (typeof b === "string")
          return `router ${report.router}: a second of ${s.service} ${s.version}: ${b}`;
        if (b.second < w.from || b.second > w.to)
          return `router ${report.router}: second ${b.second} lies outside its report's ${w.from}..${w.to}`;
        held.buckets.set(b.second, b);
      }
    }
    if (w.to >= w.from) addRange(r.covered, w.from, w.to);
    this.#prune();
    return undefined;
  }

  /** A router an operator retired: nothing more is expected from it. */
  retire(router: string): void {
    const r = this.#routers.get(router);
    if (r === undefined) return;
    r.leftAfter = Math.min(
      r.leftAfter ?? Number.POSITIVE_INFINITY,
      r.covered.at(-1)?.[1] ?? r.firstSecond - 1,
    );
  }

  /** Routers known, with the last second each covered. */
  routers(): Array<{ router: string; coveredTo: number | undefined; left: boolean }> {
    return [...this.#routers].map(([router, r]) => ({
      router,
      coveredTo: r.covered.at(-1)?.[1],
      left: r.leftAfter !== undefined,
    }));
  }

  /** What the fleet did in [q.from, q.to): every router's seconds added together. */
  query(q: WindowQuery): WindowSummary {
    if (!Number.isFinite(q.from) || !Number.isFinite(q.to) || q.to <= q.from)
      throw new RangeError(
        `metrics query needs finite epoch ms with from < to, got from=${q.from} to=${q.to}`,
      );
    const roles = q.role === undefined ? LIVE_ROLES : [q.role].flat();
    const series: SecondsSource[] = [];
    for (const r of this.#routers.values())
      for (const role of roles) {
        const s = r.series.get(seriesKey(q.service, q.version, role));
        if (s !== undefined) series.push(s);
      }
    const heldFrom = (Math.floor(this.#clock.now() / 1000) - this.#windowSeconds) * 1000;
    const from = Math.min(q.to, Math.max(q.from, heldFrom));
    return summarizeWindow(series, q.service, q.version, from, q.to);
  }

  /**
   * Why the fleet's figures for [from, to) are incomplete, or undefined when every router that
   * should have covered the window did. A router is expected from the first second this
   * instance knows it covered until it left; a second it was expected and did not report is a
   * gap, whether it stopped reporting or its report is late.
   */
  gaps(from: number, to: number): FleetGap | undefined {
    const first = Math.ceil(from / 1000);
    const last = Math.ceil(to / 1000) - 1;
    if (last < first) return undefined;
    if (first < this.#knownSince)
      return {
        kind: "before-known",
        routers: [],
        message: `this instance has the fleet's reports from ${iso(this.#knownSince * 1000)} on only (it took over the analysis then); the window starts at ${iso(from)}`,
      };
    const missing: string[] = [];
    let lateOnly = true;
    const now = this.#clock.now();
    for (const [id, r] of this.#routers) {
      const a = Math.max(first, r.firstSecond);
      const b = Math.min(last, r.leftAfter ?? Number.POSITIVE_INFINITY);
      if (a > b) continue;
      const hole = firstUncovered(r.covered, a, b);
      if (hole === undefined) continue;
      missing.push(
        `${id} (seconds from ${iso(hole * 1000)} unreported; last report ${Math.round((now - r.lastReportAt) / 1000)} s ago)`,
      );
      if (hole < (r.covered.at(-1)?.[1] ?? Number.NEGATIVE_INFINITY)) lateOnly = false;
    }
    if (missing.length === 0) return undefined;
    return {
      kind: lateOnly ? "not-yet" : "hole",
      routers: missing,
      message: `the fleet's figures are incomplete: router ${missing.join(", ")}`,
    };
  }

  /** Drops seconds older than the window. */
  #prune(): void {
    const oldest = Math.floor(this.#clock.now() / 1000) - this.#windowSeconds - 1;
    for (const [id, r] of this.#routers) {
      for (const s of r.series.values())
        for (const second of s.buckets.keys()) if (second < oldest) s.buckets.delete(second);
      while (r.covered.length > 0 && (r.covered[0] as [number, number])[1] < oldest)
        r.covered.shift();
      // A router gone for longer than the window has nothing left to say about any window.
      if (r.leftAfter !== undefined && r.leftAfter < oldest) {
        this.#routers.delete(id);
        this.#taken.delete(id);
      }
    }
  }
}

export interface FleetGap {
  /**
   * `not-yet`: every missing second is after the routers' last reports (they may still come);
   * `hole`: a router skipped seconds it was expected to cover; `before-known`: the window
   * starts before this instance had reports.
   */
  kind: "not-yet" | "hole" | "before-known";
  routers: string[];
  message: string;
}

function seriesKey(service: string, version: string, role: string): string {
  return JSON.stringify([service, version, role]);
}

/** Adds [a, b] to sorted disjoint ranges, merging neighbours. */
function addRange(ranges: Array<[number, number]>, a: number, b: number): void {
  ranges.push([a, b]);
  ranges.sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const r of ranges) {
    const top = out.at(-1);
    if (top !== undefined && r[0] <= top[1] + 1) top[1] = Math.max(top[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  ranges.splice(0, ranges.length, ...out);
}

/** The first second of [a, b] no range covers, or undefined. */
function firstUncovered(ranges: ReadonlyArray<[number, number]>, a: number, b: number) {
  let at = a;
  for (const [lo, hi] of ranges) {
    if (hi < at) continue;
    if (lo > at) return at;
    at = hi + 1;
    if (at > b) return undefined;
  }
  return at <= b ? at : undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
