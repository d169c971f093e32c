/**
 * The lease and the fence, on the database's clock (`clock_timestamp()`), so instances whose own
 * clocks disagree still agree on who holds the lease and until when.
 *
 * @module
 */

import type postgres from "postgres";
import { FencedError } from "../errors.js";
import type { Fence, Lease } from "../store.js";

/** Database-clock milliseconds since the epoch, as bigint. */
export const NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

// biome-ignore lint/suspicious/noExplicitAny: a row as returned by the client.
const leaseOf = (r: Record<string, any>): Lease => ({
  name: r.name,
  holder: r.holder,
  epoch: r.epoch,
  expiresAt: r.expires_at,
  now: r.now,
});

/**
 * One statement: insert the lease, or renew it (same holder, not expired: epoch kept), or take it
 * over (expired or released: epoch + 1). A valid lease of another holder matches nothing. The
 * upsert waits for the row lock of any fenced transaction in flight (see {@link checkFence}).
 */
export async function acquireLease(
  sql: postgres.Sql,
  name: string,
  holder: string,
  ttlMs: number,
): Promise<Lease | undefined> {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`lease ttl must be a whole number of ms > 0, got ${ttlMs}`);
  }
  const [row] = await sql.unsafe(
    `WITH now AS (SELECT ${NOW_MS} AS ms)
     INSERT INTO leases AS l (name, holder, epoch, expires_at)
     SELECT $1, $2, 1, ms + $3::bigint FROM now
     ON CONFLICT (name) DO UPDATE SET
       holder = excluded.holder,
       epoch = CASE WHEN l.holder = excluded.holder AND l.expires_at > (SELECT ms FROM now)
         THEN l.epoch ELSE l.epoch + 1 END,
       expires_at = excluded.expires_at
     WHERE l.holder = excluded.holder OR l.expires_at <= (SELECT ms FROM now)
     RETURNING l.name, l.holder, l.epoch, l.expires_at, (SELECT ms FROM now) AS now`,
    [name, holder, ttlMs],
    { prepare: true },
  );
  return row === undefined ? undefined : leaseOf(row);
}

/** Expires the lease now if `holder` holds it with `epoch`; the next taker gets epoch + 1. */
export async function releaseLease(
  sql: postgres.Sql,
  name: string,
  holder: string,
  epoch: number,
): Promise<void> {
  await sql.unsafe(
    `UPDATE leases SET expires_at = ${NOW_MS}
     WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > ${NOW_MS}`,
    [name, holder, epoch],
    { prepare: true },
  );
}

export async function readLease(sql: postgres.Sql, name: string): Promise<Lease | undefined> {
  const [row] = await sql.unsafe(
    `SELECT name, holder, epoch, expires_at, ${NOW_MS} AS now FROM leases WHERE name = $1`,
    [name],
    { prepare: true },
  );
  return row === undefined ? undefined : leaseOf(row);
}

/**
 * First statement of a fenced transaction: the lease row, locked FOR SHARE until the
 * transaction ends, if `fence` still holds it unexpired. Share mode lets the leader's own
 * transactions run side by side, while a takeover (an UPDATE of the row) waits for them; a
 * fenced transaction that starts after the takeover sees the new holder and is refused.
 */
export async function checkFence(tx: postgres.TransactionSql, fence: Fence): Promise<void> {
  const rows = await tx.unsafe(
    `SELECT 1 FROM leases
     WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > ${NOW_MS}
     FOR SHARE`,
    [fence.lease, fence.holder, fence.epoch],
    { prepare: true },
  );
  if (rows.length > 0) return;
  const [row] = await tx.unsafe(
    `SELECT holder, epoch, expires_at <= ${NOW_MS} AS expired FROM leases WHERE name = $1`,
    [fence.lease],
    { prepare: true },
  );
  throw new FencedError(
    fence.lease,
    fence.holder,
    fence.epoch,
    row === undefined ? undefined : { holder: row.holder, epoch: row.epoch, expired: row.expired },
  );
}
