/**
 * The default Store: one SQLite file (better-sqlite3, synchronous, in-process).
 *
 * Durability: WAL journal with `synchronous=FULL`, so a commit returns only after the WAL is
 * fsynced. The controller writes each transition before applying it to a router (possibly an
 * nginx or a Gateway API on another machine), and a transition lost after its effect was
 * applied would leave the store behind the world it drives. With NORMAL, a commit survives the
 * process being killed (SIGKILL, OOM: the OS still holds the written WAL) but the last
 * transactions can be lost to a power cut or kernel crash. Aviary writes a few rows per
 * transition or measurement, so FULL's one fsync per commit is cheap. NORMAL fits when what the
 * store drives lives and dies with the process (the embedded router: its traffic is rebuilt from
 * the store at start, so a lost last transition is re-decided, not left applied), and throwaway
 * databases (tests, demos) where that fsync is pure cost. The caller chooses; `synchronous` on
 * the opened store says what SQLite really runs with.
 *
 * Asynchronous face, synchronous inside: better-sqlite3 runs each statement at once, and the
 * Store interface returns promises (Postgres answers over a socket). A transaction's function
 * awaits, so other calls could run on the same connection in the middle of it and land in its
 * transaction; every top-level operation and transaction therefore goes through one queue, one at
 * a time, and a transaction's own `tx` calls skip the queue. A `store.*` call made inside a
 * transaction of the same store would wait behind it forever: it throws NestedTransactionError.
 *
 * Several processes may open the same file: the lease (`acquireLease`, `fenced`) picks the one
 * that writes as the leader; the others read, and learn of its commits through `onChange`.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import Database from "better-sqlite3";
import { AviaryError } from "../../errors.js";
import { NestedTransactionError, StoreOpenError } from "../errors.js";
import type { HealthReporting } from "../health.js";
import type { ChangeKind, Fence, Lease, Store, StoreTx } from "../store.js";
import { StoreHealthTracker } from "./health.js";
import { migrate } from "./migrations.js";
import { DataVersionPoller } from "./sqlite-changes.js";
import { createLeaseOps } from "./sqlite-lease.js";
import { createSqliteTx, type SyncStoreTx } from "./sqlite-tx.js";
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
export interface SqliteStore extends Store, HealthReporting {
  /** The durability SQLite runs with, read back from the connection (see the module doc). */
  readonly synchronous: "full" | "normal";
}

const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/**
 * Opens the SQLite database `file`, creating it (mode 0600) if missing, and brings its schema
 * up to date. `:memory:` gives a private in-memory database (tests). The parent directory must
 * exist. Opening is synchronous (a local file); everything after is asynchronous.
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
const WRITE = /^(put|append|record|delete|finish)/;

/** The transaction a piece of async code runs inside, if any (to catch nested calls). */
interface TxScope {
  db: Database.Database;
  open: boolean;
}
const scope = new AsyncLocalStorage<TxScope>();

function sqliteStore(db: Database.Database, busyTimeoutMs: number): SqliteStore {
  const health = new StoreHealthTracker(db, busyTimeoutMs);
  const ops = tracked(createSqliteTx(db), db, health);
  const lease = createLeaseOps(db);
  const poller = new DataVersionPoller(db);
  const totalChanges = db.prepare("SELECT total_changes()").pluck();
  const synchronous = Number(db.pragma("synchronous", { simple: true })) >= 2 ? "full" : "normal";
  const names = Object.keys(ops) as Array<keyof StoreTx>;

  // One operation or transaction at a time on the connection (see the module doc).
  let tail: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(operation: string, work: () => T | Promise<T>): Promise<T> => {
    const current = scope.getStore();
    if (current?.open && current.db === db) {
      return Promise.reject(new NestedTransactionError(operation));
    }
    const result = tail.then(work);
    tail = result.then(
      () => {},
      () => {},
    );
    return result;
  };

  // IMMEDIATE takes the write lock at BEGIN, where busy_timeout applies. A DEFERRED transaction
  // that reads first and then writes can instead fail with SQLITE_BUSY when another process
  // wrote in between, with no wait.
  const transaction = <T>(fn: (tx: StoreTx) => Promise<T>, fence?: Fence): Promise<T> =>
    exclusive("transaction", async () => {
      const before = totalChanges.get() as number;
      const txScope: TxScope = { db, open: true };
      let result: T;
      try {
        db.exec("BEGIN IMMEDIATE");
        if (fence !== undefined) lease.check(fence);
        result = await scope.run(txScope, () => fn(txView(ops, txScope)));
        txScope.open = false;
        db.exec("COMMIT");
      } catch (err) {
        txScope.open = false;
        if (db.open && db.inTransaction) db.exec("ROLLBACK");
        health.failed(err);
        throw err;
      }
      // Only a commit that wrote says the store can write: a read-only one succeeds on a full disk.
      if ((totalChanges.get() as number) !== before) health.succeeded();
      return result;
    });

  /** A lease operation: its own IMMEDIATE transaction, so read-then-write is atomic across processes. */
  const leaseOp = <T>(operation: string, work: () => T): Promise<T> =>
    exclusive(operation, () => {
      try {
        const result = db.transaction(work).immediate();
        health.succeeded();
        return result;
      } catch (err) {
        health.failed(err);
        throw err;
      }
    });

  const make = (fence: Fence | undefined): SqliteStore => {
    const view: Record<string, unknown> = {};
    for (const name of names) {
      const op = ops[name] as (...a: unknown[]) => unknown;
      view[name] =
        fence !== undefined && WRITE.test(name)
          ? // A fenced single write is a fenced transaction of one write.
            (...a: unknown[]) =>
              transaction(async (tx) => (tx[name] as (...a: unknown[]) => unknown)(...a), fence)
          : (...a: unknown[]) => exclusive(name, () => op(...a));
    }
    const store: Omit<SqliteStore, keyof StoreTx> = {
      transaction: (fn) => transaction(fn, fence),
      acquireLease: (name, holder, ttlMs) =>
        leaseOp<Lease | undefined>("acquireLease", () => lease.acquire(name, holder, ttlMs)),
      releaseLease: (name, holder, epoch) =>
        leaseOp("releaseLease", () => lease.release(name, holder, epoch)),
      readLease: (name) => exclusive("readLease", () => lease.read(name)),
      fenced: (next) => make(next),
      onChange: (fn: (what: ChangeKind) => void) => poller.subscribe(fn),
      health: () => health.health(),
      synchronous,
      async close() {
        poller.stop();
        // Let the operations already queued finish; the connection closes after them.
        await tail;
        if (!db.open) return;
        try {
          // Keeps the planner's statistics fresh, as SQLite advises before closing a long-lived
          // connection. Only an optimisation: a busy database must not make close fail.
          db.pragma("optimize");
        } catch {}
        db.close();
      },
    };
    return Object.assign(view, store) as unknown as SqliteStore;
  };
  return make(undefined);
}

/**
 * The `tx` a transaction function gets: the operations without the queue (the transaction holds
 * it), refused once the transaction is over (a call left un-awaited would otherwise run outside
 * it, or inside the next one).
 */
function txView(ops: SyncStoreTx, txScope: TxScope): StoreTx {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(ops) as Array<[string, (...a: unknown[]) => unknown]>) {
    out[name] = async (...args: unknown[]) => {
      if (!txScope.open) {
        throw new AviaryError(
          "AVIARY_STORE_TX_OVER",
          `tx.${name} was called after its transaction ended: await every tx call inside the transaction function`,
        );
      }
      return fn(...args);
    };
  }
  return out as unknown as StoreTx;
}

/**
 * The operations with their outcome recorded: a SQLite failure of any of them, a success of a
 * write outside a transaction (inside one, the commit decides; see `transaction`).
 */
function tracked(tx: SyncStoreTx, db: Database.Database, health: StoreHealthTracker): SyncStoreTx {
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
  return out as unknown as SyncStoreTx;
}
