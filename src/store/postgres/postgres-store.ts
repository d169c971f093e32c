/**
 * The Store on Postgres, for several `aviary serve` instances on one database
 * (`docs/high-availability.md`), with the `postgres` client (porsager): a pool of connections
 * that reconnects by itself, one more for LISTEN.
 *
 * Every write goes through a transaction (`sql.begin`), also a single write outside one, so a
 * fenced store can check its fence first and every write can NOTIFY the other instances at its
 * end. Reads outside a transaction go straight to the pool.
 *
 * Failures: a server that cannot be reached gives StoreUnavailableError naming it by host:port
 * and database (never the user or password); the next call tries again. A server that is frozen
 * (not down) leaves calls waiting until it answers: the leader's own lease clock is what steps it
 * down then.
 *
 * @module
 */

import postgres from "postgres";
import { AviaryError } from "../../errors.js";
import { StoreOpenError } from "../errors.js";
import type { ChangeKind, Fence, Store, StoreTx } from "../store.js";
import { StoreUnavailableError } from "./errors.js";
import { acquireLease, checkFence, readLease, releaseLease } from "./lease.js";
import { migrate } from "./migrations.js";
import { CHANNEL, ChangeListener } from "./notify.js";
import { createPgTx } from "./tx.js";

export interface PostgresStoreOptions {
  /** Connections in the pool (LISTEN takes one more). Default 10. */
  maxConnections?: number;
  /** Seconds to wait for a connection before the call fails. Default 10. */
  connectTimeoutS?: number;
}

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
): Promise<Store> {
  const where = describeUrl(url);
  const sql = postgres(url, {
    max: options.maxConnections ?? 10,
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
  return postgresStore(sql, where, new ChangeListener(sql), undefined);
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

function postgresStore(
  sql: postgres.Sql,
  where: string,
  changes: ChangeListener,
  fence: Fence | undefined,
): Store {
  const guard =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await fn(...args);
      } catch (err) {
        rethrow(where, err);
      }
    };

  const transaction = async <T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> => {
    try {
      return (await sql.begin(async (t) => {
        if (fence !== undefined) await checkFence(t, fence);
        const kinds = new Set<ChangeKind>();
        const result = await fn(createPgTx(t as unknown as postgres.Sql, (k) => kinds.add(k)));
        // Delivered at commit only, once per kind and transaction.
        for (const kind of kinds) await t`SELECT pg_notify(${CHANNEL}, ${kind})`;
        return result;
      })) as T;
    } catch (err) {
      rethrow(where, err);
    }
  };

  const reads = createPgTx(sql, () => {});
  const ops: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(reads) as Array<
    [keyof StoreTx, (...a: unknown[]) => Promise<unknown>]
  >) {
    ops[name] = WRITE.test(name)
      ? (...args: unknown[]) =>
          transaction((tx) => (tx[name] as (...a: unknown[]) => Promise<unknown>)(...args))
      : guard(fn);
  }

  return {
    ...(ops as unknown as StoreTx),
    transaction,
    acquireLease: guard((name: string, holder: string, ttlMs: number) =>
      acquireLease(sql, name, holder, ttlMs),
    ),
    releaseLease: guard((name: string, holder: string, epoch: number) =>
      releaseLease(sql, name, holder, epoch),
    ),
    readLease: guard((name: string) => readLease(sql, name)),
    fenced: (f) => postgresStore(sql, where, changes, { ...f }),
    onChange: (fn) => changes.subscribe(fn),
    async close() {
      await changes.close();
      // Bounded: the client's end() can wait for ever on a connection the server dropped.
      await sql.end({ timeout: 5 });
    },
  };
}
