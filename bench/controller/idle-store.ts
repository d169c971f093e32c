/**
 * A store that knows when none of its calls is pending, for the simulated clock: with the
 * Postgres store a call waits on the network, so awaiting one `setImmediate` after an instant's
 * timers (enough for SQLite, whose calls finish within the turn) would let simulated time run
 * ahead of the controller's work. `idle()` resolves once every call made so far has settled and
 * nothing new was started in the next turn; the work of each simulated instant then completes
 * before the clock moves on, as it would in the seconds a real tick leaves. The same wrapper is
 * used for every store, so the peers are measured the same way.
 *
 * @module
 */

import type { Store } from "../../src/store/store.js";

export interface IdleStore {
  store: Store;
  idle(): Promise<void>;
}

export function trackIdle(inner: Store): IdleStore {
  let pending = 0;
  let waiters: Array<() => void> = [];
  const done = () => {
    if (--pending > 0) return;
    const ready = waiters;
    waiters = [];
    for (const w of ready) w();
  };
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const out = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (out instanceof Promise) {
          pending++;
          out.then(done, done);
        }
        return out;
      };
    },
  });
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
  return {
    store,
    async idle() {
      await turn();
      while (pending > 0) {
        await new Promise<void>((resolve) => waiters.push(resolve));
        await turn();
      }
    },
  };
}
