/**
 * The default Store: one SQLite file (better-sqlite3, synchronous, in-process).
 *
 * Durability: WAL journal with `synchronous=FULL`, so a commit returns only after the WAL is
 * fsynced. The controller writes each transition before applying it to a router (possibly an
 * nginx or a Gateway API on another machine), and a transition lost after its effect was
 * applied would leave the store behind the world it drives. With NORMAL, a commit survives the
 * process being killed (SIGKILL, OOM: the OS still holds the written WAL) but the last
 * transactions can be lost to a power cut or kernel crash. Aviary writes a few rows per
 * transition or measurement, so FULL's one fsync per commit is cheap; `synchronous: "normal"` is
 * there for throwaway databases (tests, demos) where that fsync is pure cost.
 *
 * @module
 */

import Database from "better-sqlite3";
import { AviaryError } from "../../errors.js";
import { StoreOpenError } from "../errors.js";
import type { HealthReporting } from "../health.js";
import type { Store, StoreTx } from "../store.js";
import { StoreHealthTracker } from "./health.js";
import { migrate } from "./migrations.js";
import { createSqliteTx } from "./sqlite-tx.js";
import { notAnAviaryStore, prepareStoreFile } from "./store-file.js";

export interface SqliteStoreOptions {
  /** fsync every commit ("full", the default) or only at checkpoints ("normal"). See the module doc. */
  synchronous?: "full" | "normal";
  /** How long a write waits for another process's write lock before failing. Default 5 s. */
  busyTimeoutMs?: number;
  /**
   * Start a store in a file that exists but is empty, or add Aviary's tables to a SQLite file
   * that has none (`aviary serve --init-store`). Without it such a file is refused. A missing
   * file is always created.
   */
  initStore?: boolean;
}

/** The SQLite store: a Store that also reports whether its writes go through. */
export type SqliteStore = Store & HealthReporting;

const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/**
 * Opens the SQLite database `file`, creating it (mode 0600) if missing, and brings its schema
 * up to date. `:memory:` gives a private in-memory database (tests). The parent directory must
 * exist.
 *
 * @throws StoreNotAviaryError if the file exists but is empty, not SQLite, or not an Aviary
 *   store (nothing is changed; see `initStore`).
 * @throws StoreOpenError if the file cannot be opened or is not a database.
 * @throws SchemaTooNewError if a newer Aviary wrote it (nothing is changed).
 */
export function openSqliteStore(file: string, options: SqliteStoreOptions = {}): SqliteStore {
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const open = (path: string, where: string, requireAviary: boolean) => {
    let db: Database.Database | undefined;
    try {
      db = new Database(path);
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      if (requireAviary && !hasAviarySchema(db)) throw notAnAviaryStore(where);
      db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
      db.pragma("foreign_keys = ON");
      migrate(db, where);
      return db;
    } catch (err) {
      db?.close();
      if (err instanceof AviaryError) throw err;
      throw new StoreOpenError(where, err);
    }
  };
  if (file === ":memory:") return sqliteStore(open(file, file, false), busyTimeoutMs);
  let state: ReturnType<typeof prepareStoreFile>;
  try {
    state = prepareStoreFile(file, options.initStore === true, (tmp) =>
      open(tmp, file, false).close(),
    );
  } catch (err) {
    if (err instanceof AviaryError) throw err;
    throw new StoreOpenError(file, err);
  }
  return sqliteStore(
    open(file, file, state === "existing" && options.initStore !== true),
    busyTimeoutMs,
  );
}

/** Every Aviary store records its migrations; a database without that table is not one. */
function hasAviarySchema(db: Database.Database): boolean {
  return (
    db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
      .get() !== undefined
  );
}

/** Operations whose success means the database took a write. */
const WRITE = /^(put|append|record|delete)/;

function sqliteStore(db: Database.Database, busyTimeoutMs: number): SqliteStore {
  const health = new StoreHealthTracker(db, busyTimeoutMs);
  const tx = tracked(createSqliteTx(db), db, health);
  const totalChanges = db.prepare("SELECT total_changes()").pluck();
  // IMMEDIATE takes the write lock at BEGIN, where busy_timeout applies. A DEFERRED transaction
  // that reads first and then writes can instead fail with SQLITE_BUSY when another process
  // wrote in between, with no wait. Nested calls become savepoints (better-sqlite3).
  const inTransaction = db.transaction((fn: (tx: StoreTx) => unknown) => fn(tx));
  return {
    ...tx,
    transaction<T>(fn: (tx: StoreTx) => T): T {
      const outermost = !db.inTransaction;
      const before = outermost ? (totalChanges.get() as number) : 0;
      let result: T;
      try {
        result = inTransaction.immediate(fn) as T;
      } catch (err) {
        health.failed(err);
        throw err;
      }
      // Only a commit that wrote says the store can write: a read-only one succeeds on a full disk.
      if (outermost && (totalChanges.get() as number) !== before) health.succeeded();
      return result;
    },
    health: () => health.health(),
    close() {
      if (!db.open) return;
      try {
        // Keeps the planner's statistics fresh, as SQLite advises before closing a long-lived
        // connection. Only an optimisation: a busy database must not make close fail.
        db.pragma("optimize");
      } catch {}
      db.close();
    },
  };
}

/**
 * The operations with their outcome recorded: a SQLite failure of any of them, a success of a
 * write outside a transaction (inside one, the commit decides; see `transaction`).
 */
function tracked(tx: StoreTx, db: Database.Database, health: StoreHealthTracker): StoreTx {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(tx) as Array<[string, (...a: unknown[]) => unknown]>) {
    const write = WRITE.test(name);
    out[name] = (...args: unknown[]) => {
      try {
        const result = fn(...args);
        if (write && !db.inTransaction) health.succeeded();
        return result;
      } catch (err) {
        health.failed(err);
        throw err;
      }
    };
  }
  return out as unknown as StoreTx;
}
