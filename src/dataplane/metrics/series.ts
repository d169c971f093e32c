/**
 * The recorder of one (service, version, role): a ring of per-second buckets for window queries
 * and cumulative counters for Prometheus. The proxy holds it directly, so recording is a clock
 * read, a few array bumps and one logarithm: no lookup and no allocation.
 *
 * @module
 */

import type { Clock } from "../../util/clock.js";
import { DURATION_BOUNDS_MS } from "./duration-buckets.js";
import { MAX_MS } from "./latency-sketch.js";
import { failureSlot, SLOTS, statusSlot } from "./outcome.js";
import { SecondBucket } from "./second-bucket.js";
import type { FailureKind, Recorder, Role } from "./types.js";

const BOUNDS = DURATION_BOUNDS_MS.length;

/** Records one (service, version, role) and keeps its recent seconds and lifetime totals. */
export class SeriesRecorder implements Recorder {
  readonly service: string;
  readonly version: string;
  readonly role: Role;
  /** Lifetime requests by outcome slot, for Prometheus counters. */
  readonly totals = new Float64Array(SLOTS);
  /** Lifetime requests per duration bucket (not cumulative; the last one is above every bound). */
  readonly durationCounts = new Float64Array(BOUNDS + 1);
  /** Lifetime sum of latencies in ms. */
  durationSumMs = 0;

  readonly #clock: Clock;
  readonly #ring: Array<SecondBucket | undefined>;
  #current: SecondBucket;
  // Recording compares against this instead of dividing now by 1000 on every call.
  #currentEndsAt: number;

  /** A ring of `seconds` buckets; slots are allocated when their second first sees traffic. */
  constructor(service: string, version: string, role: Role, seconds: number, clock: Clock) {
    this.service = service;
    this.version = version;
    this.role = role;
    this.#clock = clock;
    this.#ring = new Array<SecondBucket | undefined>(seconds).fill(undefined);
    this.#current = new SecondBucket();
    this.#currentEndsAt = Number.NEGATIVE_INFINITY;
  }

  response(status: number, latencyMs: number): void {
    this.#record(statusSlot(status), latencyMs);
  }

  failure(kind: FailureKind, latencyMs: number): void {
    this.#record(failureSlot(kind), latencyMs);
  }

  /** Lifetime number of requests. */
  get requests(): number {
    let n = 0;
    for (const c of this.totals) n += c;
    return n;
  }

  /** Number of seconds the ring holds. */
  get seconds(): number {
    return this.#ring.length;
  }

  /** The bucket of an epoch second, if the ring still holds that second. */
  bucketAt(second: number): SecondBucket | undefined {
    const bucket = this.#ring[second % this.#ring.length];
    return bucket !== undefined && bucket.second === second ? bucket : undefined;
  }

  #record(slot: number, ms: number): void {
    const now = this.#clock.now();
    // A clock that steps back keeps counting into the newest second instead of overwriting
    // a slot that belongs to a later one.
    if (now >= this.#currentEndsAt) this.#roll(now);
    // NaN and negative latencies (a clock step during the request) count as zero.
    if (!(ms >= 0)) ms = 0;
    else if (ms > MAX_MS) ms = MAX_MS;
    this.#current.add(slot, ms);
    this.totals[slot]!++;
    this.durationSumMs += ms;
    let b = 0;
    while (b < BOUNDS && ms > DURATION_BOUNDS_MS[b]!) b++;
    this.durationCounts[b]!++;
  }

  #roll(now: number): void {
    const second = Math.floor(now / 1000);
    const slot = second % this.#ring.length;
    let bucket = this.#ring[slot];
    if (bucket === undefined) {
      bucket = new SecondBucket();
      this.#ring[slot] = bucket;
    }
    // Seconds only move forward here, so whatever the slot held is older and can go.
    bucket.reset(second);
    this.#current = bucket;
    this.#currentEndsAt = (second + 1) * 1000;
  }
}
