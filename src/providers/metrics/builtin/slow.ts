/**
 * Slow-request counts from a window's latency DDSketch: how many requests took longer than an
 * edge, without the raw latencies.
 *
 * How exact: the sketch keeps, per logarithmic bin, how many latencies fell in it; a bin spans a
 * factor γ = (1 + α) / (1 − α) ≈ 1.0202 at the router's relative accuracy α = 0.01. Bins wholly
 * above the edge count as slow and bins wholly below as fast — exactly. Only the one bin that
 * holds the edge is split by a rule: it counts as slow when its representative value (the one
 * `getValueAtQuantile` reports, within 1 % of every latency in the bin) is above the edge, so
 * slow counts agree with the sketch's quantiles. Requests within about ±2 % of the edge may thus
 * land on the wrong side; every other request is counted exactly. When the window's largest
 * latency is ≤ the edge, or its smallest is above it, the count is exact outright (the sketch
 * carries the true min and max). Latencies under 1 µs (the sketch's zero bucket) are never slow
 * for an edge ≥ 0.
 *
 * @module
 */

import type { DDSketch } from "@datadog/sketches-js";

/** For each edge (ms), the number of the sketch's latencies above it (see the module notes for how exact). */
export function slowCounts(sketch: DDSketch, edgesMs: readonly number[]): number[] {
  return edgesMs.map((edge) => slowCount(sketch, edge));
}

function slowCount(sketch: DDSketch, edge: number): number {
  if (Number.isNaN(edge)) throw new RangeError("a slow edge must be a number of ms, got NaN");
  const total = sketch.count;
  if (total === 0) return 0;
  if (edge < 0) return total;
  if (sketch.max <= edge) return 0;
  if (sketch.min > edge) return total;
  const { store, mapping } = sketch;
  if (store.count === 0) return 0;
  const edgeKey = mapping.key(Math.max(edge, mapping.minPossible));
  let slow = 0;
  for (let k = Math.max(store.minKey, edgeKey + 1); k <= store.maxKey; k++) {
    slow += store.bins[k - store.offset] ?? 0;
  }
  if (edgeKey >= store.minKey && edgeKey <= store.maxKey && mapping.value(edgeKey) > edge) {
    slow += store.bins[edgeKey - store.offset] ?? 0;
  }
  return slow;
}
