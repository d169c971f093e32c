/**
 * A router's per-version metric windows on the wire: the per-second buckets of its
 * {@link MetricsRegistry} (outcome counts, latency totals and the DDSketch key counts), so the
 * leader can add every router's seconds together and answer the analysis' queries over the
 * whole fleet exactly as one router's registry would answer them over its own traffic.
 *
 * A report covers a range of whole seconds, `[from, to]`: every second in it with traffic is
 * listed, and a second not listed had none. The range is stated, never inferred, so a second a
 * router did not report is unknown rather than quiet. A report repeats the last seconds of the
 * previous ones (see `REPORT_HORIZON_S`), so a lost report or two loses nothing.
 *
 * @module
 */

import { z } from "zod";
import { MAX_KEY, MIN_KEY } from "../dataplane/metrics/latency-sketch.js";
import { SLOTS } from "../dataplane/metrics/outcome.js";
import type { MetricsRegistry } from "../dataplane/metrics/registry.js";
import { SecondBucket } from "../dataplane/metrics/second-bucket.js";
import type { Role } from "../dataplane/metrics/types.js";

/** How many seconds back each report reaches at least: five report intervals of 2 s. */
export const REPORT_HORIZON_S = 10;

/**
 * How many seconds back a report reaches at most: a router cut off from the control plane
 * sends what it recorded meanwhile once it is back, up to an hour of it.
 */
export const MAX_REPORT_SECONDS = 3600;

/** Fields of one second before its key counts: second, 8 outcome counts, zeros, sum, min, max. */
const HEAD = 1 + SLOTS + 4;

export interface ReportedSeries {
  service: string;
  version: string;
  role: Role;
  /**
   * One array per second with traffic: `[second, ...counts(8), zeros, sumMs, minMs, maxMs]`,
   * then, when some latency was keyed, `lowKey` and the key counts from lowKey to highKey.
   */
  seconds: number[][];
}

export interface ReportedWindows {
  v: 1;
  /** First and last epoch second covered, inclusive. */
  from: number;
  to: number;
  /** The router is leaving (a clean shutdown): nothing is expected from it after `to`. */
  final: boolean;
  series: ReportedSeries[];
}

/** The seconds `[from, to]` of every series of `metrics` that saw traffic in them. */
export function exportWindows(
  metrics: MetricsRegistry,
  from: number,
  to: number,
  final = false,
): ReportedWindows {
  const series: ReportedSeries[] = [];
  for (const rec of metrics.recorders()) {
    const seconds: number[][] = [];
    for (let s = Math.max(from, to - rec.seconds + 1); s <= to; s++) {
      const b = rec.bucketAt(s);
      if (b !== undefined) {
        const row = encodeBucket(b);
        if (row !== undefined) seconds.push(row);
      }
    }
    if (seconds.length > 0)
      series.push({ service: rec.service, version: rec.version, role: rec.role, seconds });
  }
  return { v: 1, from, to, final, series };
}

/** A second as a row of numbers (see {@link ReportedSeries}), or undefined when it counted nothing. */
export function encodeBucket(b: SecondBucket): number[] | undefined {
  let requests = 0;
  for (let i = 0; i < SLOTS; i++) requests += b.counts[i] as number;
  if (requests === 0) return undefined;
  const row = [b.second, ...b.counts, b.zeros, b.sumMs, b.minMs, b.maxMs];
  if (b.lowKey <= b.highKey) {
    row.push(b.lowKey);
    for (let k = b.lowKey; k <= b.highKey; k++) row.push(b.bins[k - b.offset] as number);
  }
  return row;
}

/** A reported second back as a {@link SecondBucket}, or a message naming what is wrong. */
export function decodeBucket(row: readonly number[]): SecondBucket | string {
  if (row.length < HEAD || row.length === HEAD + 1) return "too short";
  if (!row.every((n) => Number.isFinite(n) && n >= -1e12)) return "not finite numbers";
  const b = new SecondBucket();
  b.second = row[0] as number;
  if (!Number.isInteger(b.second)) return "the second is not an integer";
  for (let i = 0; i < SLOTS; i++) {
    const c = row[1 + i] as number;
    if (!Number.isInteger(c) || c < 0) return "a count is not a whole number ≥ 0";
    b.counts[i] = c;
  }
  b.zeros = row[1 + SLOTS] as number;
  b.sumMs = row[2 + SLOTS] as number;
  b.minMs = row[3 + SLOTS] as number;
  b.maxMs = row[4 + SLOTS] as number;
  if (row.length > HEAD) {
    const low = row[HEAD] as number;
    const high = low + row.length - HEAD - 2;
    if (!Number.isInteger(low) || low < MIN_KEY || high > MAX_KEY) return "keys out of range";
    const bins = new Uint32Array(high - low + 1);
    for (let i = 0; i < bins.length; i++) {
      const c = row[HEAD + 1 + i] as number;
      if (!Number.isInteger(c) || c < 0 || c > 0xffffffff) return "a key count is not a count";
      bins[i] = c;
    }
    b.bins = bins;
    b.offset = low;
    b.lowKey = low;
    b.highKey = high;
  }
  return b;
}

/** Most seconds, series and numbers one report may carry (a router serves a few hundred versions at most). */
const MAX_SERIES = 2_000;
const MAX_ROW = HEAD + 1 + (MAX_KEY - MIN_KEY + 1);

/** How many numbers an encoded second has, at least and at most. */
export const BUCKET_ROW_LENGTH = { min: HEAD, max: MAX_ROW } as const;

/** Unknown top-level keys are dropped: the stored form adds the router's report interval. */
export const ReportedWindowsSchema = z
  .object({
    v: z.literal(1),
    from: z.int().min(0),
    to: z.int().min(0),
    final: z.boolean(),
    series: z
      .array(
        z.strictObject({
          service: z.string().min(1).max(200),
          version: z.string().min(1).max(200),
          role: z.enum(["stable", "canary", "mirror"]),
          seconds: z.array(z.array(z.number()).min(HEAD).max(MAX_ROW)).max(MAX_REPORT_SECONDS),
        }),
      )
      .max(MAX_SERIES),
  })
  .refine((w) => w.to >= w.from - 1 && w.to - w.from < MAX_REPORT_SECONDS, {
    message: `from and to must be seconds with from ≤ to + 1, at most ${MAX_REPORT_SECONDS} apart`,
  });
