/**
 * The server's clock as the browser sees it. A pause's end is a server timestamp; a countdown
 * computed with the laptop's clock is wrong by however far the two disagree. Each API answer's
 * `Date` header (whole seconds) bounds the offset (server minus local) to an interval of a
 * second plus the round trip, and server timestamps of things that already happened (a
 * rollout's `updatedAt`) bound it from below. The estimate is the middle of what is left;
 * evidence contradicting it (a clock was stepped) starts the interval afresh.
 *
 * @module
 */

export interface ClockSample {
  /** Local epoch ms just before the request and just after the answer. */
  sentAt: number;
  receivedAt: number;
  /** The HTTP Date header. */
  date?: string | undefined;
  /** Server epoch ms of things that happened before the answer was made. */
  before?: readonly number[];
}

export class ServerClock {
  #lo = Number.NEGATIVE_INFINITY;
  #hi = Number.POSITIVE_INFINITY;

  observe(sample: ClockSample): void {
    let lo = Number.NEGATIVE_INFINITY;
    let hi = Number.POSITIVE_INFINITY;
    const date = sample.date === undefined ? Number.NaN : Date.parse(sample.date);
    if (Number.isFinite(date)) {
      // The header truncates to the second: the server's time was in [date, date + 1000).
      lo = date - sample.receivedAt;
      hi = date + 1000 - sample.sentAt;
    }
    for (const t of sample.before ?? []) {
      if (Number.isFinite(t)) lo = Math.max(lo, t - sample.receivedAt);
    }
    if (lo > hi) hi = lo;
    if (lo > this.#hi || hi < this.#lo) {
      this.#lo = lo;
      this.#hi = hi;
      return;
    }
    this.#lo = Math.max(this.#lo, lo);
    this.#hi = Math.min(this.#hi, hi);
  }

  /** Server minus local, ms; 0 until something is known. */
  get offsetMs(): number {
    const lo = this.#lo;
    const hi = this.#hi;
    if (Number.isFinite(lo) && Number.isFinite(hi)) return (lo + hi) / 2;
    if (Number.isFinite(lo)) return Math.max(0, lo);
    if (Number.isFinite(hi)) return Math.min(0, hi);
    return 0;
  }

  /** The server's time now. */
  now(local: number = Date.now()): number {
    return local + this.offsetMs;
  }
}
