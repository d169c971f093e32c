/**
 * Merging a window of per-second buckets into a {@link WindowSummary}. This runs when the analysis
 * asks, not per request, so it can afford a scratch array over the whole key range.
 *
 * @module
 */

import { MAX_KEY, MIN_KEY, sketchFromBins } from "./latency-sketch.js";
import { SLOT_CONNECT, SLOT_RESET, SLOT_TIMEOUT, SLOTS } from "./outcome.js";
import type { SecondBucket } from "./second-bucket.js";
import type { LatencySummary, WindowSummary } from "./types.js";

/** Seconds of one series: a local recorder's ring, or a router's reported seconds (`src/fleet/`). */
export interface SecondsSource {
  /** How many distinct seconds it can hold. */
  readonly seconds: number;
  bucketAt(second: number): SecondBucket | undefined;
}

/**
 * Summarizes what `series` recorded in [from, to). Resolution is one second: a second counts when
 * its start lies in the window. Callers clamp `from` to what the rings still hold.
 */
export function summarizeWindow(
  series: readonly SecondsSource[],
  service: string,
  version: string,
  from: number,
  to: number,
): WindowSummary {
  const acc = new Accumulator();
  const first = Math.ceil(from / 1000);
  const last = Math.ceil(to / 1000) - 1;
  for (const s of series) {
    // A ring holds no more than s.seconds distinct seconds, so looking further is wasted work.
    const end = Math.min(last, first + s.seconds - 1);
    for (let second = first; second <= end; second++) {
      const bucket = s.bucketAt(second);
      if (bucket !== undefined) acc.add(bucket);
    }
  }
  return acc.summary(service, version, from, to);
}

class Accumulator {
  readonly counts = new Float64Array(SLOTS);
  readonly bins = new Float64Array(MAX_KEY - MIN_KEY + 1);
  lo = Number.POSITIVE_INFINITY;
  hi = Number.NEGATIVE_INFINITY;
  zeros = 0;
  sumMs = 0;
  minMs = Number.POSITIVE_INFINITY;
  maxMs = Number.NEGATIVE_INFINITY;

  add(b: SecondBucket): void {
    for (let i = 0; i < SLOTS; i++) this.counts[i]! += b.counts[i]!;
    this.zeros += b.zeros;
    this.sumMs += b.sumMs;
    if (b.minMs < this.minMs) this.minMs = b.minMs;
    if (b.maxMs > this.maxMs) this.maxMs = b.maxMs;
    if (b.lowKey > b.highKey) return;
    for (let k = b.lowKey; k <= b.highKey; k++) this.bins[k - MIN_KEY]! += b.bins[k - b.offset]!;
    if (b.lowKey < this.lo) this.lo = b.lowKey;
    if (b.highKey > this.hi) this.hi = b.highKey;
  }

  summary(service: string, version: string, from: number, to: number): WindowSummary {
    const c = this.counts;
    let requests = 0;
    for (let i = 0; i < SLOTS; i++) requests += c[i]!;
    const failures = {
      connect: c[SLOT_CONNECT]!,
      timeout: c[SLOT_TIMEOUT]!,
      reset: c[SLOT_RESET]!,
    };
    const errors = c[4]! + failures.connect + failures.timeout + failures.reset;
    const seconds = Math.max(0, to - from) / 1000;
    const sketch = sketchFromBins(this.bins, this.lo, this.hi, this);
    return {
      service,
      version,
      from,
      to,
      seconds,
      requests,
      responses: { "1xx": c[0]!, "2xx": c[1]!, "3xx": c[2]!, "4xx": c[3]!, "5xx": c[4]! },
      failures,
      errors,
      errorRate: requests > 0 ? errors / requests : Number.NaN,
      rps: seconds > 0 ? requests / seconds : Number.NaN,
      latencyMs: this.#latency(sketch, requests),
      sketch,
    };
  }

  #latency(sketch: WindowSummary["sketch"], requests: number): LatencySummary {
    if (requests === 0) return { p50: NaN, p95: NaN, p99: NaN, mean: NaN, max: NaN };
    // A bin's representative value can sit just past the extremes; the true quantile cannot.
    const at = (q: number) =>
      Math.min(this.maxMs, Math.max(this.minMs, sketch.getValueAtQuantile(q)));
    return {
      p50: at(0.5),
      p95: at(0.95),
      p99: at(0.99),
      mean: this.sumMs / requests,
      max: this.maxMs,
    };
  }
}
