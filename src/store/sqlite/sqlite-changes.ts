/**
 * `onChange` for SQLite: it has no notifications between connections, but `PRAGMA data_version`
 * changes whenever ANOTHER connection commits to the file, so a cheap poll of it tells an
 * instance that something may be new. SQLite cannot tell what changed, so each wake-up names
 * every kind. The poll runs only while someone listens, on an unref'd timer (it never keeps
 * the process alive).
 *
 * @module
 */

import type { Database } from "better-sqlite3";
import type { ChangeKind } from "../store.js";

export const POLL_MS = 250;
const KINDS: readonly ChangeKind[] = ["events", "commands", "state", "reports"];

export class DataVersionPoller {
  readonly #db: Database;
  readonly #listeners = new Set<(what: ChangeKind) => void>();
  #timer: NodeJS.Timeout | undefined;
  #version = 0;

  constructor(db: Database) {
    this.#db = db;
  }

  subscribe(fn: (what: ChangeKind) => void): () => void {
    // A distinct wrapper per call, so subscribing the same function twice needs two unsubscribes.
    const listener = (what: ChangeKind) => fn(what);
    this.#listeners.add(listener);
    if (this.#timer === undefined && this.#db.open) {
      this.#version = this.#read();
      this.#timer = setInterval(() => this.#poll(), POLL_MS);
      this.#timer.unref();
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.stop();
    };
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #read(): number {
    return Number(this.#db.pragma("data_version", { simple: true }));
  }

  #poll(): void {
    if (!this.#db.open) {
      this.stop();
      return;
    }
    const version = this.#read();
    if (version === this.#version) return;
    this.#version = version;
    for (const listener of [...this.#listeners]) {
      for (const kind of KINDS) {
        try {
          listener(kind);
        } catch (err) {
          // One subscriber's failure must not stop the others' wake-ups, nor the poll.
          process.emitWarning(`an onChange subscriber of the SQLite store threw: ${err}`);
        }
      }
    }
  }
}
