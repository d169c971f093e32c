/**
 * The Postgres schema's history: numbered migrations applied in order, each recorded in
 * `schema_migrations` in the transaction that applies it. The whole run holds a
 * transaction-level advisory lock, so instances starting at once apply each migration once
 * (the others wait, then find nothing to do).
 *
 * @module
 */

import type postgres from "postgres";
import { SchemaTooNewError } from "../errors.js";
import { sql as initial } from "./migrations/001-initial.js";
import { sql as followers } from "./migrations/002-followers.js";
import { sql as commandCommits } from "./migrations/003-command-commits.js";
import { sql as trackingReports } from "./migrations/004-tracking-reports.js";

export interface Migration {
  /** 1, 2, 3... with no gaps; never renumber or edit one that has been released. */
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "initial", sql: initial },
  { version: 2, name: "followers", sql: followers },
  { version: 3, name: "command-commits", sql: commandCommits },
  { version: 4, name: "tracking-reports", sql: trackingReports },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Key of the advisory lock that serialises migrations ("aviary-migrate" in ASCII, truncated). */
export const MIGRATION_LOCK = 0x61766961_6d696772n;

/** Brings the database to {@link SCHEMA_VERSION}; refuses a newer one before writing anything. */
export async function migrate(
  sql: postgres.Sql,
  where: string,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<void> {
  const known = migrations.length;
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK.toString()}::bigint)`;
    await tx`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at bigint NOT NULL
      )`;
    const [row] = await tx<{ current: number }[]>`
      SELECT coalesce(max(version), 0)::integer AS current FROM schema_migrations`;
    const current = row?.current ?? 0;
    if (current > known) throw new SchemaTooNewError(where, current, known);
    for (const m of migrations) {
      if (m.version <= current) continue;
      await tx.unsafe(m.sql);
      await tx`INSERT INTO schema_migrations (version, name, applied_at)
        VALUES (${m.version}, ${m.name}, ${Date.now()})`;
    }
  });
}
