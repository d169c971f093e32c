/**
 * The SQLite schema's history: numbered migrations, applied in order, each recorded in
 * `schema_migrations` in the same transaction that applies it. SQL lives in TypeScript modules
 * (not .sql files) so the build copies it to dist like any other code.
 *
 * @module
 */

import type { Database } from "better-sqlite3";
import { SchemaTooNewError } from "../errors.js";
import { sql as initial } from "./migrations/001-initial.js";
import { sql as rolloutGates } from "./migrations/002-rollout-gates.js";
import { sql as severalInstances } from "./migrations/003-several-instances.js";
import { sql as followers } from "./migrations/004-followers.js";
import { sql as commandCommits } from "./migrations/005-command-commits.js";
import { sql as trackingReports } from "./migrations/006-tracking-reports.js";

export interface Migration {
  /** 1, 2, 3... with no gaps; never renumber or edit one that has been released. */
  version: number;
  name: string;
  sql: string;
}

/** Every migration this build knows, oldest first. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "initial", sql: initial },
  { version: 2, name: "rollout-gates", sql: rolloutGates },
  { version: 3, name: "several-instances", sql: severalInstances },
  { version: 4, name: "followers", sql: followers },
  { version: 5, name: "command-commits", sql: commandCommits },
  { version: 6, name: "tracking-reports", sql: trackingReports },
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

const TRACKING_TABLE = `
CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
) STRICT`;

/**
 * Brings the database to {@link SCHEMA_VERSION}. Idempotent. Refuses a database whose version is
 * higher than this build knows, before writing anything. `where` names the database in errors.
 */
export function migrate(db: Database, where: string, now: () => number = Date.now): void {
  // IMMEDIATE takes the write lock before reading the version, so two processes opening the
  // same new file do not both apply migration 1 (the second waits, then finds nothing to do).
  db.transaction(() => {
    db.exec(TRACKING_TABLE);
    const current = db
      .prepare("SELECT coalesce(max(version), 0) FROM schema_migrations")
      .pluck()
      .get() as number;
    if (current > SCHEMA_VERSION) throw new SchemaTooNewError(where, current, SCHEMA_VERSION);
    const record = db.prepare(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
    );
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, now());
    }
  }).immediate();
}
