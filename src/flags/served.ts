/**
 * The flags an instance serves: those of the applied spec in the store, whichever instance
 * applied it, so a follower answers exactly as the leader does. Re-read when the store says
 * its state changed (another instance committed) and when this instance committed a spec
 * itself (SQLite tells no connection of its own commits); each flag is compiled once per
 * revision, and an evaluation only looks a compiled flag up.
 *
 * @module
 */

import { z } from "zod";
import type { Store } from "../store/store.js";
import type { Logger } from "../util/log.js";
import { type CompiledFlag, compileFlag } from "./evaluate.js";
import { Flag } from "./schema.js";

const StoredFlags = z.array(Flag);

/** One revision of the served flags, never changed once made. */
export interface FlagSet {
  /** The applied spec's revision these flags came with (0: nothing applied yet). */
  readonly revision: number;
  readonly flags: ReadonlyMap<string, CompiledFlag>;
}

const EMPTY: FlagSet = Object.freeze({ revision: 0, flags: new Map() });

export class ServedFlags {
  readonly #store: Pick<Store, "getAppliedSpec" | "onChange">;
  readonly #log: Logger;
  readonly #listeners = new Set<(set: FlagSet) => void>();
  #current: FlagSet = EMPTY;
  /** The last revision read, and its flags as stored: a revision that changed no flag is no news. */
  #seen = 0;
  #seenText = "[]";
  #running: Promise<void> | undefined;
  #again = false;
  #unsubscribe: (() => void) | undefined;
  #closed = false;

  constructor(opts: { store: Pick<Store, "getAppliedSpec" | "onChange">; log: Logger }) {
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
    if (applied === undefined || applied.revision === this.#seen) return;
    const stored = (applied.spec as { flags?: unknown }).flags ?? [];
    const text = JSON.stringify(stored);
    this.#seen = applied.revision;
    if (text === this.#seenText && this.#current !== EMPTY) return;
    const parsed = StoredFlags.safeParse(stored);
    if (!parsed.success) {
      // Only a store written by another version of Aviary can hold such flags.
      this.#log.error(
        { revision: applied.revision, problem: parsed.error.issues[0]?.message },
        "the applied spec's flags do not parse; the flags in force stay",
      );
      return;
    }
    const flags = new Map<string, CompiledFlag>();
    for (const f of parsed.data) flags.set(f.key, compileFlag(f));
    if (this.#closed) return;
    this.#seenText = text;
    this.#current = Object.freeze({ revision: applied.revision, flags });
    for (const fn of this.#listeners) fn(this.#current);
  }
}
