/**
 * A manual clock for the controller benchmark: like `ManualClock` (src/util/clock.ts), time moves
 * only when told to, but timers live in a binary heap and cancelling one is O(1) (it is marked
 * and skipped when popped). `ManualClock` scans and filters its whole timer list on every fire
 * and every cancel, which is fine for tests with a handful of timers; with 1,000 rollouts it
 * would cost O(timers²) per tick and be measured as the controller's CPU.
 *
 * {@link SimClock.advance} fires every due timer at its own time, in time order, and awaits
 * `settle` after each instant so the controller's promise chains run at that time, as they
 * would on the system clock.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../../src/util/clock.js";

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export class SimClock implements Clock {
  #now: number;
  #seq = 0;
  #heap: Entry[] = [];
  #live = 0;

  constructor(start: number) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const entry: Entry = {
      at: this.#now + Math.max(0, ms),
      seq: this.#seq++,
      fn,
      cancelled: false,
    };
    this.#push(entry);
    this.#live++;
    return {
      cancel: () => {
        if (entry.cancelled) return;
        entry.cancelled = true;
        this.#live--;
        // Cancelled entries wait in the heap until popped; rebuild when they dominate.
        if (this.#heap.length > 1024 && this.#heap.length > 4 * this.#live) this.#compact();
      },
    };
  }

  /** Timers set and neither fired nor cancelled. */
  get pendingTimers(): number {
    return this.#live;
  }

  /**
   * Moves time forward by `ms`: every timer due by then fires at its own time (timers they set
   * fire too if due), and `settle` is awaited after each instant's timers have fired.
   * `maxFires` bounds the loop (a timer that keeps re-arming itself at zero delay).
   */
  async advance(ms: number, settle: () => Promise<void>, maxFires = 10_000_000): Promise<void> {
    const target = this.#now + ms;
    let fired = 0;
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined || top.at > target) break;
      this.#now = top.at;
      // Everything due at this instant, then let the work it queued run.
      while (this.#heap[0] !== undefined && (this.#heap[0] as Entry).at === this.#now) {
        const e = this.#pop() as Entry;
        if (e.cancelled) continue;
        e.cancelled = true;
        this.#live--;
        if (++fired > maxFires) throw new Error(`more than ${maxFires} timers in one advance`);
        e.fn();
      }
      await settle();
    }
    this.#now = target;
    await settle();
  }

  #compact(): void {
    const live = this.#heap.filter((e) => !e.cancelled);
    this.#heap = [];
    for (const e of live) this.#push(e);
  }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(e, h[parent] as Entry)) break;
      h[i] = h[parent] as Entry;
      i = parent;
    }
    h[i] = e;
  }

  #pop(): Entry | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let best = last;
      if (l < h.length && before(h[l] as Entry, best)) {
        m = l;
        best = h[l] as Entry;
      }
      if (r < h.length && before(h[r] as Entry, best)) m = r;
      if (m === i) break;
      h[i] = h[m] as Entry;
      i = m;
    }
    h[i] = last;
    return top;
  }
}
