/**
 * What the embedded router serves, by service, handed out as snapshots that never change
 * after they are taken — without copying every service at each change. The controller reads
 * `observe()` after every transition; with 1,000 services a copy per read made each
 * transition cost work for every service.
 *
 * Each snapshot remembers, for the names changed after it was taken and before the next
 * snapshot, the value it had; a read walks from the snapshot to the newest one and then the
 * live map. The newest snapshot (the one the controller reads) answers in O(1); a change costs
 * O(1). Older snapshots stay correct as long as someone holds them, and are garbage otherwise.
 *
 * @module
 */

import type { ServedTraffic } from "../provider.js";

type Served = ServedTraffic;

class Snapshot implements ReadonlyMap<string, Served> {
  /** Values (undefined: absent) of names changed after this snapshot and before `next`. */
  readonly before = new Map<string, Served | undefined>();
  /** The snapshot taken after this one, if any. */
  next: Snapshot | undefined;
  readonly #live: ReadonlyMap<string, Served>;
  #whole: Map<string, Served> | undefined;

  constructor(live: ReadonlyMap<string, Served>) {
    this.#live = live;
  }

  get(name: string): Served | undefined {
    if (this.#whole !== undefined) return this.#whole.get(name);
    for (let s: Snapshot | undefined = this; s !== undefined; s = s.next)
      if (s.before.has(name)) return s.before.get(name);
    return this.#live.get(name);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  get size(): number {
    return this.#materialize().size;
  }

  entries(): MapIterator<[string, Served]> {
    return this.#materialize().entries();
  }

  keys(): MapIterator<string> {
    return this.#materialize().keys();
  }

  values(): MapIterator<Served> {
    return this.#materialize().values();
  }

  forEach(fn: (value: Served, key: string, map: ReadonlyMap<string, Served>) => void): void {
    for (const [k, v] of this.#materialize()) fn(v, k, this);
  }

  [Symbol.iterator](): MapIterator<[string, Served]> {
    return this.entries();
  }

  /** The whole map as of this snapshot, built once (only for iteration and size). */
  #materialize(): Map<string, Served> {
    if (this.#whole !== undefined) return this.#whole;
    const chain: Snapshot[] = [];
    for (let s: Snapshot | undefined = this; s !== undefined; s = s.next) chain.push(s);
    const whole = new Map(this.#live);
    // Newest first, so the oldest record (this snapshot's own value) is the one that stays.
    for (let i = chain.length - 1; i >= 0; i--) {
      for (const [name, value] of (chain[i] as Snapshot).before) {
        if (value === undefined) whole.delete(name);
        else whole.set(name, value);
      }
    }
    this.#whole = whole;
    return whole;
  }
}

export class ServedSnapshots {
  readonly #live = new Map<string, Served>();
  /** The newest snapshot: changes are recorded in it. */
  #newest: Snapshot | undefined;
  /** Whether something changed since {@link #newest} was taken. */
  #changed = true;

  set(name: string, served: Served): void {
    if (this.#live.get(name) === served) return;
    this.#record(name);
    this.#live.set(name, served);
  }

  delete(name: string): void {
    if (!this.#live.has(name)) return;
    this.#record(name);
    this.#live.delete(name);
  }

  /** The map as it is now; it stays so whatever changes later. */
  snapshot(): ReadonlyMap<string, Served> {
    if (!this.#changed && this.#newest !== undefined) return this.#newest;
    const s = new Snapshot(this.#live);
    if (this.#newest !== undefined) this.#newest.next = s;
    this.#newest = s;
    this.#changed = false;
    return s;
  }

  #record(name: string): void {
    this.#changed = true;
    const s = this.#newest;
    if (s !== undefined && !s.before.has(name)) s.before.set(name, this.#live.get(name));
  }
}
