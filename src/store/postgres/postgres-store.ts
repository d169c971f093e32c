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
 * (not down) leaves calls waiting until it answers: the leader's own lease clock is what steps it
 * down then.
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
}

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
  const sql = postgres(url, {
    max: options.maxConnections ?? 4,
    connect_timeout: options.connectTimeoutS ?? 10,
    onnotice: () => {},
    connection: { application_name: "aviary" },
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
  try {
    await migrate(sql, where);
  } catch (err) {
    await sql.end({ timeout: 1 });
    if (err instanceof AviaryError) throw err;
    throw new StoreOpenError(where, err);
  }
  return postgresStore(sql, where, new ChangeListener(sql));
}

function unreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && (UNREACHABLE.has(code) || code.startsWith("08"));
}

/** Rethrows `err`, as StoreUnavailableError when the server could not be reached. */
function rethrow(where: string, err: unknown): never {
  if (unreachable(err)) throw new StoreUnavailableError(where, err);
  throw err;
}

/** The transaction a piece of async code runs inside, if any (to catch nested calls). */
interface TxScope {
  sql: postgres.Sql;
  open: boolean;
}
const scope = new AsyncLocalStorage<TxScope>();

function postgresStore(sql: postgres.Sql, where: string, changes: ChangeListener): PostgresStore {
  // One operation or transaction at a time per store, as the interface promises (a read queued
  // behind a transaction runs after it). Fenced views share the queue.
  let tail: Promise<unknown> = Promise.resolve();
  // Whether the database answers: failed since the first unreachable call, ok at the next answer.
  let health: StoreHealth = { ok: true };
  const exclusive = <T>(operation: string, work: () => Promise<T>): Promise<T> => {
    const current = scope.getStore();
    if (current?.open && current.sql === sql) {
      return Promise.reject(new NestedTransactionError(operation));
    }
    const result = tail.then(async () => {
      try {
        const value = await work();
        health = { ok: true };
        return value;
      } catch (err) {
        if (unreachable(err)) {
          const message = err instanceof Error ? err.message : String(err);
          health = { ok: false, error: message, since: health.ok ? Date.now() : health.since };
        }
        rethrow(where, err);
      }
    });
    tail = result.then(
      () => {},
      () => {},
    );
    return result;
  };

  const transaction = <T>(fn: (tx: StoreTx) => Promise<T>, fence: Fence | undefined) =>
    exclusive("transaction", async () => {
      const txScope: TxScope = { sql, open: true };
      try {
        return (await sql.begin(async (t) => {
          if (fence !== undefined) await checkFence(t, fence);
          const kinds = new Set<ChangeKind>();
          const ops = createPgTx(t as unknown as postgres.Sql, (k) => kinds.add(k));
          const result = await scope.run(txScope, () => fn(txView(ops, txScope)));
          txScope.open = false;
          // Delivered at commit only, once per kind and transaction.
          for (const kind of kinds) await t`SELECT pg_notify(${CHANNEL}, ${kind})`;
          return result;
        })) as T;
      } finally {
        txScope.open = false;
      }
    });

  const ops = createPgTx(sql, () => {});
  const names = Object.keys(ops) as Array<keyof StoreTx>;

  const make = (fence: Fence | undefined): PostgresStore => {
    const view: Record<string, unknown> = {};
    for (const name of names) {
      const op = ops[name] as (...a: unknown[]) => Promise<unknown>;
      view[name] = WRITE.test(name)
        ? // A single write is a transaction of one write: fenced if the view is, and it notifies.
          (...a: unknown[]) =>
            transaction((tx) => (tx[name] as (...a: unknown[]) => Promise<unknown>)(...a), fence)
        : (...a: unknown[]) => exclusive(name, () => op(...a));
    }
    const store: Omit<PostgresStore, keyof StoreTx> = {
      transaction: (fn) => transaction(fn, fence),
      acquireLease: (name, holder, ttlMs) =>
        exclusive("acquireLease", () => acquireLease(sql, name, holder, ttlMs)),
      releaseLease: (name, holder, epoch) =>
        exclusive("releaseLease", () => releaseLease(sql, name, holder, epoch)),
      readLease: (name) => exclusive("readLease", () => readLease(sql, name)),
      fenced: (next) => make({ ...next }),
      onChange: (fn) => changes.subscribe(fn),
      health: () => ({ ...health }),
      async close() {
        await changes.close();
        // Let the operations already queued finish first.
        await tail;
        // Bounded: the client's end() can wait for ever on a connection the server dropped.
        await sql.end({ timeout: 1 });
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
