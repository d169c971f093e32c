/**
 * Leases and fences on SQLite, timed by the database's clock (SQLite's `julianday('now')`, the
 * host's clock, which every process on the file shares), so the instances' own clocks never
 * decide who leads.
 *
 * Each function runs inside a BEGIN IMMEDIATE transaction the caller opened: SQLite has one
 * writer at a time, so holding the write lock is holding the lease row's lock.
 *
 * @module
 */

import type { Database, Statement } from "better-sqlite3";
import { FencedError } from "../errors.js";
import type { Fence, Lease } from "../store.js";

/** Milliseconds since the Unix epoch, by the database. */
const NOW = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

interface LeaseRow {
  name: string;
  holder: string;
  epoch: number;
  expires_at: number;
  now: number;
}

export interface LeaseOps {
  acquire(name: string, holder: string, ttlMs: number): Lease | undefined;
  release(name: string, holder: string, epoch: number): void;
  read(name: string): Lease | undefined;
  /** Throws FencedError unless `fence` still holds its lease, unexpired. */
  check(fence: Fence): void;
}

export function createLeaseOps(db: Database): LeaseOps {
  const read: Statement = db.prepare(
    `SELECT name, holder, epoch, expires_at, ${NOW} AS now FROM leases WHERE name = ?`,
  );
  const now: Statement = db.prepare(`SELECT ${NOW}`).pluck();
  const upsert: Statement = db.prepare(`
    INSERT INTO leases (name, holder, epoch, expires_at) VALUES (@name, @holder, @epoch, @expires_at)
    ON CONFLICT (name) DO UPDATE SET
      holder = excluded.holder, epoch = excluded.epoch, expires_at = excluded.expires_at`);
  // Released: expired as of now, so another instance can take it at once. Holder and epoch stay,
  // so the next taker's epoch is still higher.
  const release: Statement = db.prepare(`
    UPDATE leases SET expires_at = min(expires_at, ${NOW})
    WHERE name = ? AND holder = ? AND epoch = ?`);

  const leaseOf = (row: LeaseRow): Lease => ({
    name: row.name,
    holder: row.holder,
    epoch: row.epoch,
    expiresAt: row.expires_at,
    now: row.now,
  });

  return {
    acquire(name, holder, ttlMs) {
      if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
        throw new RangeError(`lease ${name}: ttlMs must be a whole number > 0, got ${ttlMs}`);
      }
      const row = read.get(name) as LeaseRow | undefined;
      const at = row?.now ?? (now.get() as number);
      const valid = row !== undefined && row.expires_at > at;
      if (valid && row.holder !== holder) return undefined;
      // Renewing a valid hold keeps the epoch; any other take (first, after expiry or release)
      // is a new term with a higher epoch, which fences every write of the term before.
      const epoch = valid ? row.epoch : (row?.epoch ?? 0) + 1;
      const lease = { name, holder, epoch, expiresAt: at + ttlMs, now: at };
      upsert.run({ name, holder, epoch, expires_at: lease.expiresAt });
      return lease;
    },
    release(name, holder, epoch) {
      release.run(name, holder, epoch);
    },
    read(name) {
      const row = read.get(name) as LeaseRow | undefined;
      return row === undefined ? undefined : leaseOf(row);
    },
    check(fence) {
      const row = read.get(fence.lease) as LeaseRow | undefined;
      if (
        row !== undefined &&
        row.holder === fence.holder &&
        row.epoch === fence.epoch &&
        row.expires_at > row.now
      ) {
        return;
      }
      throw new FencedError(
        fence.lease,
        fence.holder,
        fence.epoch,
        row === undefined
          ? undefined
          : { holder: row.holder, epoch: row.epoch, expired: row.expires_at <= row.now },
      );
    },
  };
}
