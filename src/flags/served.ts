/**
 * The flags an instance serves: those of the applied spec in the store, whichever instance
 * applied it, so a follower answers exactly as the leader does. A flag with a strategy is
 * served as its rollout stands (`effective.ts`): the traffic state of its subject `flag:<key>`,
 * pushed by this instance's controller while it leads (`src/providers/traffic/flags/`), else as
 * the store has it. Re-read when the store says its state changed (another instance committed)
 * and when this instance committed a spec itself (SQLite tells no connection of its own
 * commits); each flag is compiled once per definition and state, and an evaluation only looks
 * a compiled flag up.
 *
 * @module
 */

import { z } from "zod";
import type { TrafficState } from "../rollout/types.js";
import type { Store } from "../store/store.js";
import type { Logger } from "../util/log.js";
import { sameJson } from "../util/same-json.js";
import { effectiveFlag } from "./effective.js";
import { type CompiledFlag, compileFlag } from "./evaluate.js";
import { Flag } from "./schema.js";
import { flagSubject } from "./subjects.js";

const StoredFlags = z.array(Flag);

/** One revision of the served flags, never changed once made. */
export interface FlagSet {
  /** The applied spec's revision these flags came with (0: nothing applied yet). */
  readonly revision: number;
  /** +1 on every change of what is served (a spec, or a step of a flag's rollout). */
  readonly generation: number;
  readonly flags: ReadonlyMap<string, CompiledFlag>;
  /** The rollout state each flag with a strategy is served at, by key (none recorded: absent). */
  readonly rollouts: ReadonlyMap<string, TrafficState>;
}

const EMPTY: FlagSet = Object.freeze({
  revision: 0,
  generation: 0,
  flags: new Map(),
  rollouts: new Map(),
});

type FlagStore = Pick<Store, "getAppliedSpec" | "onChange" | "getService">;

export class ServedFlags {
  readonly #store: FlagStore;
  readonly #log: Logger;
  readonly #listeners = new Set<(set: FlagSet) => void>();
  #current: FlagSet = EMPTY;
  /** The last revision read, and its flags as declared. */
  #seen = 0;
  #declared: Flag[] = [];
  /** Each flag's rollout state as the store has it, and as this instance's leader pushed it. */
  readonly #stored = new Map<string, TrafficState>();
  readonly #pushed = new Map<string, TrafficState | null>();
  #running: Promise<void> | undefined;
  #again = false;
  #unsubscribe: (() => void) | undefined;
  #closed = false;

  constructor(opts: { store: FlagStore; log: Logger }) {
    this.#store = opts.store;
    this.#log = opts.log;
  }

  /** Reads the applied spec once, then follows the store. */
  async start(): Promise<void> {
    this.#unsubscribe = this.#store.onChange((what) => {
      if (what === "state") this.refresh();
    });
    this.refresh();
    await this.settled();
  }

  get current(): FlagSet {
    return this.#current;
  }

  /** Called with every new revision of the flags. Returns the unsubscribe. */
  onUpdate(fn: (set: FlagSet) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * The leader's controller serves `state` for the flag `key` from now on (null: the flag's
   * subject was finalized); undefined gives the flag back to the store's state (the term ended).
   * Takes effect at once: clients are told before this returns.
   */
  push(key: string, state: TrafficState | null | undefined): void {
    if (state === undefined) this.#pushed.delete(key);
    else this.#pushed.set(key, state);
    this.#rebuild(this.#current.revision);
  }

  /** The rollout state the flag `key` is served at: as this instance's leader pushed it, else as stored. */
  stateOf(key: string): TrafficState | undefined {
    const pushed = this.#pushed.get(key);
    return pushed === undefined ? this.#stored.get(key) : (pushed ?? undefined);
  }

  /** The applied spec may have changed: read it again soon (coalesced, one read at a time). */
  refresh(): void {
    if (this.#closed) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
    });
  }

  /** Resolves once no read is under way. */
  async settled(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe?.();
    this.#listeners.clear();
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      try {
        await this.#read();
      } catch (err) {
        // The flags in force stay: the next wake-up tries again.
        this.#log.error({ err: String(err) }, "could not read the applied spec's flags");
      }
    } while (this.#again && !this.#closed);
  }

  async #read(): Promise<void> {
    const applied = await this.#store.getAppliedSpec();
    if (applied === undefined) return;
    let declared = this.#declared;
    if (applied.revision !== this.#seen) {
      const parsed = StoredFlags.safeParse((applied.spec as { flags?: unknown }).flags ?? []);
      if (!parsed.success) {
        // Only a store written by another version of Aviary can hold such flags.
        this.#log.error(
          { revision: applied.revision, problem: parsed.error.issues[0]?.message },
          "the applied spec's flags do not parse; the flags in force stay",
        );
        return;
      }
      declared = parsed.data;
    }
    const stored = new Map<string, TrafficState>();
    for (const flag of declared) {
      if (flag.strategy === undefined) continue;
      const state = await this.#store.getService(flagSubject(flag.key));
      if (state !== undefined) stored.set(flag.key, state.traffic);
    }
    if (this.#closed) return;
    this.#declared = declared;
    this.#seen = applied.revision;
    this.#stored.clear();
    for (const [key, state] of stored) this.#stored.set(key, state);
    this.#rebuild(applied.revision);
  }

  /** Serves the declared flags at their rollouts' states; tells listeners if anything changed. */
  #rebuild(revision: number): void {
    if (this.#closed) return;
    const before = this.#current;
    const flags = new Map<string, CompiledFlag>();
    const rollouts = new Map<string, TrafficState>();
    // A spec that changed no flag is no news: clients keep what they have.
    let changed = before === EMPTY;
    for (const declared of this.#declared) {
      const state = this.stateOf(declared.key);
      if (state !== undefined && declared.strategy !== undefined) rollouts.set(declared.key, state);
      const served = effectiveFlag(declared, state);
      const old = before.flags.get(declared.key);
      if (old !== undefined && sameJson(old.flag, served)) {
        flags.set(declared.key, old);
        continue;
      }
      flags.set(declared.key, compileFlag(served));
      changed = true;
    }
    if (!changed && flags.size === before.flags.size) return;
    this.#current = Object.freeze({
      revision,
      generation: before.generation + 1,
      flags,
      rollouts,
    });
    for (const fn of this.#listeners) fn(this.#current);
  }
}
