/**
 * Time as a dependency. Everything that waits or timestamps takes a Clock, so tests drive hours
 * of rollout in milliseconds with {@link ManualClock} instead of sleeping.
 *
 * @module
 */

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls fn once after ms; the handle cancels it. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

/**
 * The longest delay one Node timer takes: 2^31-1 ms, about 24.8 days. A longer one fires after
 * 1 ms (with a TimeoutOverflowWarning), so a `pause: 30d` would spin instead of waiting.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** The primitive timer functions {@link chainedTimeout} arms; tests pass their own. */
export interface TimerPrimitives<T> {
  set(fn: () => void, ms: number): T;
  clear(timer: T): void;
  /** Longest delay one `set` may be given. */
  maxDelayMs: number;
}

/**
 * Calls fn once after ms, however long: a delay beyond one timer's reach is waited out as a
 * chain of timers, each re-armed for what remains, so the total never overflows. The handle
 * cancels whichever link is pending.
 */
export function chainedTimeout<T>(
  fn: () => void,
  ms: number,
  timers: TimerPrimitives<T>,
): TimerHandle {
  // NaN fires at once, as Node's own timer does; Infinity re-arms forever, i.e. never fires.
  let remaining = Number.isNaN(ms) ? 0 : Math.max(0, ms);
  let current: T;
  let cancelled = false;
  const arm = () => {
    const step = Math.min(remaining, timers.maxDelayMs);
    remaining -= step;
    current = timers.set(() => {
      if (cancelled) return;
      if (remaining > 0) arm();
      else fn();
    }, step);
  };
  arm();
  return {
    cancel: () => {
      cancelled = true;
      timers.clear(current);
    },
  };
}

const nodeTimers: TimerPrimitives<ReturnType<typeof setTimeout>> = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (t) => clearTimeout(t),
  maxDelayMs: MAX_TIMER_DELAY_MS,
};

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => chainedTimeout(fn, ms, nodeTimers),
};

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock that moves only when told to; timers fire in order during {@link advance}. */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #pending: Pending[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const entry: Pending = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#pending.push(entry);
    return {
      cancel: () => {
        this.#pending = this.#pending.filter((p) => p !== entry);
      },
    };
  }

  /** Moves time forward by ms, firing due timers in time order (timers they set fire too). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const next = this.#nextDue(target);
      if (next === undefined) break;
      this.#pending = this.#pending.filter((p) => p !== next);
      this.#now = next.at;
      next.fn();
    }
    this.#now = target;
  }

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.#pending.length;
  }

  #nextDue(limit: number): Pending | undefined {
    let best: Pending | undefined;
    for (const p of this.#pending) {
      if (
        p.at <= limit &&
        (best === undefined || p.at < best.at || (p.at === best.at && p.seq < best.seq))
      )
        best = p;
    }
    return best;
  }
}
