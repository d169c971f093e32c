/**
 * The Store on Postgres, for several `aviary serve` instances on one database
 * (`docs/high-availability.md`), with the `postgres` client (porsager): a pool of connections
 * that reconnects by itself, one more for LISTEN.
 *
 * Every write goes through a transaction (`sql.begin`), also a single write outside one, so a
 * fenced store can check its fence first and every write can NOTIFY the other instances at its
 * end. As the interface promises, a store runs one operation or transaction at a time (a queue,
 * as the SQLite store), so a store holds one busy connection; instances run side by side.
 *
 * Failures: a server that cannot be reached gives StoreUnavailableError naming it by host:port
 * and database (never the user or password); the next call tries again. A server that is frozen
 * (SIGSTOP, a host that stopped answering) would leave calls waiting until TCP gives up, which
 * takes minutes: the client has no per-query timeout, the kernel of a stopped process's host still
 * answers keep-alive probes, and a cancel request goes to the same frozen postmaster. Server-side
 * `statement_timeout` needs a server that runs. So every call has a client-side deadline
 * (`queryTimeoutMs`), counted from the call, its wait in the queue included; past it the call
 * fails with StoreUnavailableError naming the operation, and the pool whose connection it used is
 * ended (that connection may be stuck mid-protocol) and replaced by a fresh one.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import postgres from "postgres";
import { AviaryError } from "../../errors.js";
import { NestedTransactionError, StoreOpenError } from "../errors.js";
import type { HealthReporting, StoreHealth } from "../health.js";
import type { ChangeKind, Fence, Store, StoreTx } from "../store.js";
import { StoreUnavailableError } from "./errors.js";
import { acquireLease, checkFence, readLease, releaseLease } from "./lease.js";
import { migrate } from "./migrations.js";
import { CHANNEL, ChangeListener } from "./notify.js";
import { createPgTx } from "./tx.js";

export interface PostgresStoreOptions {
  /** Connections in the pool (LISTEN takes one more); the queue keeps one busy. Default 4. */
  maxConnections?: number;
  /** Seconds to wait for a connection before the call fails. Default 10. */
  connectTimeoutS?: number;
  /**
   * Milliseconds a call may take, its wait in the store's queue included, before it fails with
   * StoreUnavailableError. Default 5,000. With the default lease (10 s, renewed every 2 s, given
   * up after 8 s without a renewal) a renewal stuck on a frozen database fails before the leader
   * would step down, so the next renewal can still keep the lease once the database answers;
   * leadership does not depend on it (it steps down by its own monotonic clock). With a lease
   * under about 6 s (`aviary serve --lease`, which opens the store with this default) the leader
   * steps down before a stuck renewal fails: the deadline then only bounds the call.
   */
  queryTimeoutMs?: number;
  /**
   * Milliseconds a session may sit inside an open transaction without sending anything before
   * the server ends it (`idle_in_transaction_session_timeout`). Default 2,000. A fenced
   * transaction locks the lease row; an instance frozen inside one (SIGSTOP, a VM pause) would
   * hold that lock for as long as it stays frozen, and every other instance would wait on it to
   * take the lease: the server-side timeout frees the lock (the frozen transaction rolls back)
   * while the client can do nothing. Aviary's transactions send their statements back to back,
   * so only a stalled process comes near it. Keep it under the lease's ttl.
   */
  idleInTransactionTimeoutMs?: number;
}

/** See {@link PostgresStoreOptions.queryTimeoutMs}. */
export const DEFAULT_QUERY_TIMEOUT_MS = 5_000;

/** See {@link PostgresStoreOptions.idleInTransactionTimeoutMs}. */
export const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS = 2_000;

/** The Postgres store: a Store that also says whether the database answers (`/healthz`). */
export type PostgresStore = Store & HealthReporting;

/** Operations whose success means the database took a write: each runs in its own transaction. */
const WRITE = /^(put|append|record|delete|finish)/;

/** Error codes of a server that is down, restarting or out of reach (client and SQLSTATE). */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, shutting down)
]);

/**
 * What a transaction callback returns once its connection is gone: a promise that never
 * settles. When the connection under `sql.begin` closes (the server ended an idle transaction,
 * Postgres restarted, the pool was ended at a deadline), `begin` rejects at once, but the
 * client (postgres 3.4.9) still sends COMMIT or ROLLBACK when the callback settles, and a
 * write on a closed connection throws from a timer, out of every try/catch, ending the process
 * (porsager/postgres#1154, #1208). The caller already has its error from `begin`; nothing
 * refers to this promise, so it is collected.
 */
function abandoned(): Promise<never> {
  return new Promise<never>(() => {});
}

/** The connection under a transaction closed (not an SQL error on a live one). */
function isConnectionGone(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === "CONNECTION_CLOSED" || code === "CONNECTION_ENDED" || code === "CONNECTION_DESTROYED"
  );
}

/** `postgres://host:port/database`, without user or password, for error messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `postgres://${u.hostname}:${u.port || "5432"}${u.pathname}`;
  } catch {
    return "(a Postgres URL that does not parse)";
  }
}

/**
 * Opens the store at `url` (`postgres://user:password@host:port/database`) and brings its schema
 * up to date.
 *
 * @throws SchemaTooNewError if a newer Aviary wrote the database (nothing is changed).
 * @throws StoreOpenError if the database cannot be reached or prepared.
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<PostgresStore> {
  const where = describeUrl(url);
  const timeoutMs = options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`queryTimeoutMs must be a whole number of ms > 0, got ${timeoutMs}`);
  }
  const idleInTxMs = options.idleInTransactionTimeoutMs ?? DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS;
  if (!Number.isSafeInteger(idleInTxMs) || idleInTxMs <= 0) {
    throw new RangeError(
      `idleInTransactionTimeoutMs must be a whole number of ms > 0, got ${idleInTxMs}`,
    );
  }
  const client = (max: number) =>
    postgres(url, {
      max,
      connect_timeout: options.connectTimeoutS ?? 10,
      onnotice: () => {},
      connection: {
        application_name: "aviary",
        idle_in_transaction_session_timeout: idleInTxMs,
      },
      // Times and sequence numbers are bigint: as JS numbers (exact up to 2^53).
      types: {
        bigint: {
          to: 20,
          from: [20],
          serialize: (x: number) => String(x),
          parse: (x: string) => Number(x),
        },
      },
    }) as unknown as postgres.Sql;
  const pool = () => client(options.maxConnections ?? 4);
  const sql = pool();
  try {
    await migrate(sql, where);
  } catch (err) {
    await sql.end({ timeout: 1 });
    if (err instanceof AviaryError) throw err;
    throw new StoreOpenError(where, err);
  }
  // LISTEN on a client of its own (it opens its one connection only when listening), so that
  // replacing the query pool after a timeout leaves the wake-ups alone.
  return postgresStore({ sql, pool, listen: client(1), where, timeoutMs });
}

function unreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && (UNREACHABLE.has(code) || code.startsWith("08"));
}

/** The transaction a piece of async code runs inside, if any (to catch nested calls). */
interface TxScope {
  /** The store (all its fenced views) the transaction belongs to. */
  owner: object;
  open: boolean;
}
const scope = new AsyncLocalStorage<TxScope>();

/** A pool of connections and the store's operations on it. */
interface Pool {
  sql: postgres.Sql;
  ops: StoreTx;
}

interface StoreParts {
  sql: postgres.Sql;
  /** A new query pool, after a timeout ended the one in use. */
  pool: () => postgres.Sql;
  listen: postgres.Sql;
  where: string;
  timeoutMs: number;
}

function postgresStore(parts: StoreParts): PostgresStore {
  const { where, timeoutMs } = parts;
  const owner = {};
  const changes = new ChangeListener(parts.listen);
  const poolOf = (sql: postgres.Sql): Pool => ({ sql, ops: createPgTx(sql, () => {}) });
  let pool = poolOf(parts.sql);
  // The client cannot end one connection of a pool, and the one a timed-out call used may be
  // stuck mid-protocol (a reply half read, a transaction open): end the whole pool and go on
  // with a new one. The queue keeps at most one of its connections busy, so little is lost.
  const replacePool = () => {
    const old = pool.sql;
    pool = poolOf(parts.pool());
    old.end({ timeout: 0 }).catch(() => {});
  };

  // One operation or transaction at a time per store, as the interface promises (a read queued
  // behind a transaction runs after it). Fenced views share the queue.
  let tail: Promise<void> = Promise.resolve();
  // Whether the database answers: failed since the first unreachable call, ok at the next answer.
  let health: StoreHealth = { ok: true };
  const failed = (message: string) => {
    health = { ok: false, error: message, since: health.ok ? Date.now() : health.since };
  };

  // Calls waiting in the queue, each with the way to fail it before it runs.
  const waiting = new Set<(why: string) => void>();

  /**
   * Runs `work` when the calls before it are done, within the deadline counted from now. A call
   * that got no answer within it fails the calls queued behind it at once too: they wait on the
   * same server, and during a freeze the queue would otherwise drain one deadline at a time
   * while new calls keep joining it.
   */
  const exclusive = <T>(
    operation: string,
    writes: boolean,
    work: (pool: Pool) => Promise<T>,
  ): Promise<T> => {
    const current = scope.getStore();
    if (current?.open && current.owner === owner) {
      return Promise.reject(new NestedTransactionError(operation));
    }
    return new Promise<T>((resolve, reject) => {
      let state: "queued" | "running" | "settled" = "queued";
      let release!: () => void;
      const released = new Promise<void>((r) => {
        release = r;
      });
      const settle = () => {
        state = "settled";
        waiting.delete(fail);
        clearTimeout(timer);
        release();
      };
      // Unsent (queued) calls wrote nothing; a running write may have reached the commit.
      const fail = (why: string) => {
        const running = state === "running";
        settle();
        failed(why);
        reject(
          new StoreUnavailableError(where, new Error(why), {
            operation,
            mayHaveWritten: running && writes,
          }),
        );
      };
      const timer = setTimeout(() => {
        if (state === "settled") return;
        if (state === "queued") {
          fail(`no answer within ${timeoutMs} ms to the calls queued before it`);
          return;
        }
        fail(`no answer within ${timeoutMs} ms`);
        replacePool();
        const behind = `not sent: the call before it got no answer within ${timeoutMs} ms`;
        for (const other of [...waiting]) other(behind);
      }, timeoutMs);
      waiting.add(fail);
      void tail.then(async () => {
        // Failed while queued: it never runs, so nothing it would write is written late.
        if (state !== "queued") return;
        waiting.delete(fail);
        state = "running";
        try {
          const value = await work(pool);
          if (state !== "running") return;
          settle();
          health = { ok: true };
          resolve(value);
        } catch (err) {
          if (state !== "running") return;
          settle();
          if (unreachable(err)) {
            failed(err instanceof Error ? err.message : String(err));
            reject(new StoreUnavailableError(where, err, { operation }));
          } else {
            reject(err);
          }
        }
      });
      tail = released;
    });
  };

  const transaction = <T>(
    fn: (tx: StoreTx) => Promise<T>,
    fence: Fence | undefined,
    operation = "transaction",
  ) =>
    exclusive(operation, true, async ({ sql }) => {
      const txScope: TxScope = { owner, open: true };
      // Set once `begin` has settled: a callback still running after that must never settle.
      let over = false;
      try {
        return (await sql.begin(async (t) => {
          try {
            if (fence !== undefined) await checkFence(t, fence);
            const kinds = new Set<ChangeKind>();
            const ops = createPgTx(t as unknown as postgres.Sql, (k) => kinds.add(k));
            const result = await scope.run(txScope, () => fn(txView(ops, txScope)));
            txScope.open = false;
            // Delivered at commit only, once per kind and transaction.
            for (const kind of kinds) await t`SELECT pg_notify(${CHANNEL}, ${kind})`;
            if (over) return abandoned();
            return result;
          } catch (err) {
            if (over || isConnectionGone(err)) return abandoned();
            throw err;
          }
        })) as T;
      } finally {
        over = true;
        txScope.open = false;
      }
    });

  const names = Object.keys(pool.ops) as Array<keyof StoreTx>;
  type Op = (...a: unknown[]) => Promise<unknown>;

  const make = (fence: Fence | undefined): PostgresStore => {
    const view: Record<string, unknown> = {};
    for (const name of names) {
      view[name] = WRITE.test(name)
        ? // A single write is a transaction of one write: fenced if the view is, and it notifies.
          (...a: unknown[]) => transaction((tx) => (tx[name] as Op)(...a), fence, name)
        : (...a: unknown[]) => exclusive(name, false, ({ ops }) => (ops[name] as Op)(...a));
    }
    const store: Omit<PostgresStore, keyof StoreTx> = {
      transaction: (fn) => transaction(fn, fence),
      acquireLease: (name, holder, ttlMs) =>
        exclusive("acquireLease", true, ({ sql }) => acquireLease(sql, name, holder, ttlMs)),
      releaseLease: (name, holder, epoch) =>
        exclusive("releaseLease", true, ({ sql }) => releaseLease(sql, name, holder, epoch)),
      readLease: (name) => exclusive("readLease", false, ({ sql }) => readLease(sql, name)),
      fenced: (next) => make({ ...next }),
      onChange: (fn) => changes.subscribe(fn),
      health: () => ({ ...health }),
      async close() {
        // Unlistening needs an answer: bounded like a call, then the connection is ended.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          changes.close(),
          new Promise((resolve) => {
            timer = setTimeout(resolve, timeoutMs);
          }),
        ]);
        clearTimeout(timer);
        await parts.listen.end({ timeout: 0 });
        // Let the operations already queued finish first (each within its deadline).
        await tail;
        // Bounded: the client's end() can wait for ever on a connection the server dropped.
        await pool.sql.end({ timeout: 1 });
      },
    };
    return Object.assign(view, store) as unknown as PostgresStore;
  };
  return make(undefined);
}

/**
 * The `tx` a transaction function gets: refused once the transaction is over (a call left
 * un-awaited would otherwise run outside it).
 */
function txView(ops: StoreTx, txScope: TxScope): StoreTx {
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
