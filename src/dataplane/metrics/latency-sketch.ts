/**
 * Latency keys shared by the per-second buckets and the DDSketch handed to the judges. Buckets
 * count keys in plain typed arrays (no allocation per request); a query turns merged counts into
 * a real DDSketch once. Keys come from the library's own mapping, so the result is bin for bin
 * what `DDSketch.accept` would have built.
 *
 * @module
 */

import { DDSketch } from "@datadog/sketches-js";

/** Relative accuracy of every latency sketch; DDSketches merge only when it matches. */
export const RELATIVE_ACCURACY = 0.01;

const mapping = new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY }).mapping;

/**
 * Latencies below 1 µs count as zero, as DDSketch does with values too small to key; without a
 * floor one stray tiny value would stretch a bucket's key range by hundreds of bins.
 */
export const MIN_KEYED_MS = 0.001;

/** Latencies are clamped to about 2.8 h: no HTTP exchange lasts longer, and one bad value must not poison a sum. */
export const MAX_MS = 1e7;

/** Key of {@link MIN_KEYED_MS}: the lowest key a bucket ever holds. */
export const MIN_KEY = mapping.key(MIN_KEYED_MS);

/** Key of {@link MAX_MS}: the highest key a bucket ever holds. */
export const MAX_KEY = mapping.key(MAX_MS);

/** The sketch key of a latency in [{@link MIN_KEYED_MS}, {@link MAX_MS}]. */
export function latencyKey(ms: number): number {
  return mapping.key(ms);
}

/** Latency totals that travel with the key counts: the sketch's own summary fields. */
export interface LatencyTotals {
  zeros: number;
  sumMs: number;
  minMs: number;
  maxMs: number;
}

/**
 * A DDSketch holding `bins[k - MIN_KEY]` values at key k for k in [lo, hi], plus the totals.
 * Bins are added lowest key first and highest second so the store grows at most twice.
 */
export function sketchFromBins(
  bins: Float64Array,
  lo: number,
  hi: number,
  totals: LatencyTotals,
): DDSketch {
  const sketch = new DDSketch({ relativeAccuracy: RELATIVE_ACCURACY });
  const store = sketch.store;
  if (lo <= hi) {
    store.add(lo, bins[lo - MIN_KEY]!);
    if (hi > lo) store.add(hi, bins[hi - MIN_KEY]!);
    for (let k = lo + 1; k < hi; k++) {
      const c = bins[k - MIN_KEY]!;
      if (c > 0) store.add(k, c);
    }
  }
  sketch.zeroCount = totals.zeros;
  sketch.count = store.count + totals.zeros;
  sketch.sum = totals.sumMs;
  sketch.min = totals.minMs;
  sketch.max = totals.maxMs;
  return sketch;
}
