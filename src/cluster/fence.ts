/**
 * What a leader does with a fenced refusal: it means "another instance leads now", whatever
 * write it came from (a transition, a traffic event, a command's outcome). The write is never
 * retried; the term ends. {@link watchFence} wraps the term's fenced store so every refusal,
 * wherever the caller catches it, reaches leadership.
 *
 * @module
 */

import type { Store, StoreTx } from "../store/store.js";

/** Whether the store refused a write because this instance's lease is gone. */
export function isFenced(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return err.name === "FencedError" || code === "AVIARY_STORE_FENCED" || code === "AVIARY_FENCED";
}

/**
 * The same store; every method's rejection by the fence is first told to `onFenced` (once per
 * error) and then rethrown, so the caller stops as it would on any failed write.
 */
export function watchFence(store: Store, onFenced: (err: unknown) => void): Store {
  const told = new WeakSet<object>();
  const tell = (err: unknown) => {
    if (isFenced(err) && typeof err === "object" && err !== null && !told.has(err)) {
      told.add(err);
      onFenced(err);
    }
    throw err;
  };
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(obj, prop, receiver) {
        const value = Reflect.get(obj, prop, receiver);
        if (typeof value !== "function") return value;
        if (prop === "transaction")
          return (fn: (tx: StoreTx) => Promise<unknown>) =>
            (value as Store["transaction"]).call(obj, fn).catch(tell);
        return (...args: unknown[]) => {
          const out = (value as (...a: unknown[]) => unknown).apply(obj, args);
          return out instanceof Promise ? out.catch(tell) : out;
        };
      },
    });
  return wrap(store);
}
