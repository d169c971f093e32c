/**
 * The server's clock as a client sees it (the CLI's watch view, the dashboard). A countdown
 * computed with the local clock is wrong by however far the two clocks disagree, so every
 * answer narrows an interval of possible offsets (server minus local): the HTTP Date header
 * (whole seconds) bounds it within a second plus the round trip, and a timestamp of something
 * that already happened (a rollout's `updatedAt`) from below. The estimate is the middle of what is left; evidence that
 * contradicts the interval (a clock was stepped) starts it again.
 *
 * @module
 */

export interface ClockSample {
  /** Local epoch ms just before the request and just after the answer. */
  sentAt: number;
  receivedAt: number;
  /** The HTTP Date header. */
  date?: string | undefined;
  /** Server epoch ms of events that happened before the answer was made. */
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
      lo = Math.max(lo, date - sample.receivedAt);
      hi = Math.min(hi, date + 1000 - sample.sentAt);
    }
    for (const t of sample.before ?? []) {
      if (Number.isFinite(t)) lo = Math.max(lo, t - sample.receivedAt);
    }
    if (lo > hi) hi = lo; // the sample contradicts itself; keep its firmest evidence
    if (lo > this.#hi || hi < this.#lo) {
      this.#lo = lo;
      this.#hi = hi;
      return;
    }
    this.#lo = Math.max(this.#lo, lo);
    this.#hi = Math.min(this.#hi, hi);
  }

  /** Estimated server minus local time, ms; 0 until something is known. */
  get offset(): number {
    const lo = this.#lo;
    const hi = this.#hi;
    if (Number.isFinite(lo) && Number.isFinite(hi)) return (lo + hi) / 2;
    // Bounded on one side only: assume the clocks agree unless the bound says otherwise.
    if (Number.isFinite(lo)) return Math.max(0, lo);
    if (Number.isFinite(hi)) return Math.min(0, hi);
    return 0;
  }

  /** How far off the estimate may be, ms (Infinity until it is bounded both ways). */
  get uncertainty(): number {
    return (this.#hi - this.#lo) / 2;
  }

  /** The server's time now, by the local time `localNow`. */
  now(localNow: number = Date.now()): number {
    return localNow + this.offset;
  }
}
