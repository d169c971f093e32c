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
import type { Store, StoreTx } from "../store.js";
import { migrate } from "./migrations.js";
import { createSqliteTx } from "./sqlite-tx.js";

export interface SqliteStoreOptions {
  /** fsync every commit ("full", the default) or only at checkpoints ("normal"). See the module doc. */
  synchronous?: "full" | "normal";
  /** How long a write waits for another process's write lock before failing. Default 5 s. */
  busyTimeoutMs?: number;
}

/**
 * Opens (creating if needed) the SQLite database `file` and brings its schema up to date.
 * `:memory:` gives a private in-memory database (tests). The parent directory must exist.
 *
 * @throws StoreOpenError if the file cannot be opened or is not a database.
 * @throws SchemaTooNewError if a newer Aviary wrote it (nothing is changed).
 */
export function openSqliteStore(file: string, options: SqliteStoreOptions = {}): Store {
  let db: Database.Database | undefined;
  try {
    db = new Database(file);
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5_000}`);
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
    db.pragma("foreign_keys = ON");
    migrate(db, file);
    return sqliteStore(db);
  } catch (err) {
    db?.close();
    if (err instanceof AviaryError) throw err;
    throw new StoreOpenError(file, err);
  }
}

function sqliteStore(db: Database.Database): Store {
  const tx = createSqliteTx(db);
  // IMMEDIATE takes the write lock at BEGIN, where busy_timeout applies. A DEFERRED transaction
  // that reads first and then writes can instead fail with SQLITE_BUSY when another process
  // wrote in between, with no wait. Nested calls become savepoints (better-sqlite3).
  const inTransaction = db.transaction((fn: (tx: StoreTx) => unknown) => fn(tx));
  return {
    ...tx,
    transaction<T>(fn: (tx: StoreTx) => T): T {
      return inTransaction.immediate(fn) as T;
    },
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
