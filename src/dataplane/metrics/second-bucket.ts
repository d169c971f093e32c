/**
 * One second of one series: outcome counts and the latency key counts of a sketch. A bucket is
 * reused when the ring wraps around, so a busy series stops allocating once its buckets have
 * grown to the key range its latencies span.
 *
 * @module
 */

import { latencyKey, MAX_KEY, MIN_KEY, MIN_KEYED_MS } from "./latency-sketch.js";
import { SLOTS } from "./outcome.js";

// Growth step of the key array; a latency distribution spans a few hundred keys at 1 %.
const CHUNK = 32;
const NO_BINS = new Uint32Array(0);

/** Counts of one epoch second; fields are public so a window can merge them without copies. */
export class SecondBucket {
  /** Epoch second these counts belong to; a slot whose second has passed is stale, not empty. */
  second = -1;
  /** Requests by outcome slot (see outcome.ts). */
  readonly counts = new Float64Array(SLOTS);
  /** Latencies below the keyed range, counted as zero like DDSketch does. */
  zeros = 0;
  sumMs = 0;
  minMs = Number.POSITIVE_INFINITY;
  maxMs = Number.NEGATIVE_INFINITY;
  /** Values per key: bins[k - offset]. Only [lowKey, highKey] may be non-zero. */
  bins: Uint32Array = NO_BINS;
  offset = 0;
  lowKey = Number.POSITIVE_INFINITY;
  highKey = Number.NEGATIVE_INFINITY;

  /** Counts one request; ms is already clamped to [0, MAX_MS]. */
  add(slot: number, ms: number): void {
    this.counts[slot]!++;
    this.sumMs += ms;
    if (ms < this.minMs) this.minMs = ms;
    if (ms > this.maxMs) this.maxMs = ms;
    if (ms < MIN_KEYED_MS) {
      this.zeros++;
      return;
    }
    const key = latencyKey(ms);
    let i = key - this.offset;
    if (i < 0 || i >= this.bins.length) {
      this.#grow(key);
      i = key - this.offset;
    }
    this.bins[i]!++;
    if (key < this.lowKey) this.lowKey = key;
    if (key > this.highKey) this.highKey = key;
  }

  /** Empties the bucket for a new second, keeping its key array for reuse. */
  reset(second: number): void {
    this.second = second;
    this.counts.fill(0);
    this.zeros = 0;
    this.sumMs = 0;
    this.minMs = Number.POSITIVE_INFINITY;
    this.maxMs = Number.NEGATIVE_INFINITY;
    // Only the used range can be dirty, so clearing costs what the last second used.
    if (this.lowKey <= this.highKey) {
      this.bins.fill(0, this.lowKey - this.offset, this.highKey - this.offset + 1);
    }
    this.lowKey = Number.POSITIVE_INFINITY;
    this.highKey = Number.NEGATIVE_INFINITY;
  }

  // The array only widens (to the union of its old span and the new key), so a bucket stops
  // allocating once it has seen its series' usual spread; MIN_KEY..MAX_KEY bounds it at ~4.6 KB.
  #grow(key: number): void {
    const empty = this.bins.length === 0;
    const lo = empty ? key : Math.min(key, this.offset);
    const hi = empty ? key : Math.max(key, this.offset + this.bins.length - 1);
    const start = Math.max(MIN_KEY, Math.floor(lo / CHUNK) * CHUNK);
    const end = Math.min(MAX_KEY, (Math.floor(hi / CHUNK) + 1) * CHUNK - 1);
    const next = new Uint32Array(end - start + 1);
    if (!empty) next.set(this.bins, this.offset - start);
    this.bins = next;
    this.offset = start;
  }
}
