/**
 * Whether the SQLite store can write, for `/healthz`. Every operation's SQLite failure is
 * recorded (SQLITE_BUSY past the busy timeout, SQLITE_FULL, SQLITE_READONLY, I/O errors...),
 * and every successful write clears it, so the health is what the last write met.
 *
 * A store that failed and is then left alone would stay "degraded" forever, so while degraded
 * {@link StoreHealthTracker.health} probes with a real write at most once a second: it rewrites
 * the header's `user_version` with its own value (a page written to the WAL and committed,
 * nothing changed), with no busy wait, so a probe never blocks the event loop. While healthy
 * nothing is probed: `/healthz` is public, and must not let anyone make the store write.
 *
 * Constraint errors are the caller's mistake, not the store's health, and are not recorded.
 *
 * @module
 */

import Database from "better-sqlite3";
import type { StoreHealth } from "../health.js";

const PROBE_EVERY_MS = 1_000;

export class StoreHealthTracker {
  readonly #db: Database.Database;
  readonly #busyTimeoutMs: number;
  readonly #now: () => number;
  #failure: { error: string; since: number } | undefined;
  #lastProbe = Number.NEGATIVE_INFINITY;

  constructor(db: Database.Database, busyTimeoutMs: number, now: () => number = Date.now) {
    this.#db = db;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#now = now;
  }

  /** A write (or a transaction that wrote) committed. */
  succeeded(): void {
    this.#failure = undefined;
  }

  /** Records `err` when it is the database failing; anything else is not the store's health. */
  failed(err: unknown): void {
    if (!isStoreFailure(err)) return;
    const error = `${err.code}: ${err.message}`;
    this.#failure = { error, since: this.#failure?.since ?? this.#now() };
  }

  health(): StoreHealth {
    if (this.#failure !== undefined && this.#now() - this.#lastProbe >= PROBE_EVERY_MS) {
      this.#lastProbe = this.#now();
      this.#probe();
    }
    return this.#failure === undefined ? { ok: true } : { ok: false, ...this.#failure };
  }

  #probe(): void {
    const db = this.#db;
    // Never inside someone else's transaction (better-sqlite3 is synchronous, so only a
    // caller's own open transaction could be here), and never on a closed connection.
    if (!db.open || db.inTransaction) return;
    db.pragma("busy_timeout = 0");
    try {
      db.exec("BEGIN IMMEDIATE");
      const version = Number(db.pragma("user_version", { simple: true }));
      db.pragma(`user_version = ${version}`);
      db.exec("COMMIT");
      this.succeeded();
    } catch (err) {
      if (db.inTransaction) db.exec("ROLLBACK");
      this.failed(err);
    } finally {
      db.pragma(`busy_timeout = ${this.#busyTimeoutMs}`);
    }
  }
}

type SqliteError = InstanceType<typeof Database.SqliteError>;

function isStoreFailure(err: unknown): err is SqliteError {
  return err instanceof Database.SqliteError && !err.code.startsWith("SQLITE_CONSTRAINT");
}
