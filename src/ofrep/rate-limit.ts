/**
 * Token buckets for the OFREP listener: requests per second, with a burst, per client key and
 * per remote address, in a table that cannot grow past a fixed number of buckets.
 *
 * What is charged to what (server.ts applies it):
 * - A request with a valid client key is charged to that key. That is the budget an operator
 *   grants an application; the key names are the tokens file's, so they are few. Charging keyed
 *   requests to their address instead would throttle the many honest users behind one NAT,
 *   corporate proxy or mobile carrier gateway together.
 * - A request with no key, an unknown key or another role's token is charged to its remote
 *   address (IPv6 by its /64, {@link addressBucket}), at a much lower rate: a key it made up cannot name a bucket (a flood of invented
 *   keys would otherwise make a bucket each and never run dry), and key guessing is what this
 *   slows down. Over that limit it gets 429 instead of 401.
 * A web app's client key is public (it ships in the page), so the per-key limit protects the
 * server and the other applications, not one user of an app from another.
 *
 * The table is a Map in least-recently-used order: a bucket used moves to the end, and the
 * first is dropped when the table is full. A dropped bucket comes back full, so a flood of
 * distinct addresses can give an evicted abuser a fresh burst; it cannot grow memory, and a
 * full bucket is what an idle one would have refilled to anyway.
 *
 * @module
 */

import type { Clock } from "../util/clock.js";

export interface BucketSettings {
  /** Tokens added per second. */
  rate: number;
  /** Largest number of tokens a bucket holds (the burst). */
  burst: number;
  /** Most buckets held at once. */
  maxBuckets: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  readonly #s: BucketSettings;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, Bucket>();
  /** Buckets dropped to make room, since start (for the metric). */
  evicted = 0;

  constructor(settings: BucketSettings, clock: Clock) {
    if (!(settings.rate > 0) || !(settings.burst >= 1) || !(settings.maxBuckets >= 1))
      throw new Error(
        `token buckets need rate > 0, burst >= 1 and maxBuckets >= 1, got ${JSON.stringify(settings)}`,
      );
    this.#s = settings;
    this.#clock = clock;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes one token from `id`'s bucket: 0 when there was one, otherwise the milliseconds until
   * there will be (nothing is taken then).
   */
  take(id: string): number {
    const now = this.#clock.now();
    let b = this.#buckets.get(id);
    if (b === undefined) {
      if (this.#buckets.size >= this.#s.maxBuckets) {
        const oldest = this.#buckets.keys().next().value as string;
        this.#buckets.delete(oldest);
        this.evicted++;
      }
      b = { tokens: this.#s.burst, at: now };
    } else {
      this.#buckets.delete(id);
      // A clock stepped back adds nothing, and refill runs on from there: a correction of the
      // system clock never stalls a client until the clock catches up.
      const elapsed = Math.max(0, now - b.at);
      b.tokens = Math.min(this.#s.burst, b.tokens + (elapsed * this.#s.rate) / 1000);
      b.at = now;
    }
    this.#buckets.set(id, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) * 1000) / this.#s.rate);
  }
}

/**
 * The bucket an address without a valid key is charged to: an IPv4 address as it is (an
 * IPv4-mapped IPv6 one as its IPv4), an IPv6 address by its /64, the block one host or one
 * customer line gets; one machine can take any of 2^64 addresses in it, which would otherwise
 * each name a fresh bucket.
 */
export function addressBucket(remote: string | undefined): string {
  if (remote === undefined || remote === "") return "unknown";
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(remote);
  if (mapped !== null) return mapped[1] as string;
  if (!remote.includes(":")) return remote;
  const bare = remote.split("%")[0] as string;
  const [head = "", tail] = bare.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (g === "" ? "0" : g.toLowerCase().replace(/^0+(?=.)/, "")))
    .join(":")}::/64`;
}

/** `Retry-After` in whole seconds (at least 1: 0 would tell a client to retry at once). */
export function retryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}
