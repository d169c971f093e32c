/**
 * Several instances on one database (issue 14): a revision on each service's state so a write
 * over a stale read is refused, the applied spec every instance runs, operator commands a
 * follower stores for the leader, what each router last reported, and the leases that pick one
 * leader (expiry in database-clock milliseconds, so instances' clocks need not agree).
 *
 * @module
 */

export const sql = `
ALTER TABLE services ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;

-- One row (id 1): the spec the control plane runs now.
CREATE TABLE applied_spec (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  revision INTEGER NOT NULL,
  spec TEXT NOT NULL,
  source TEXT NOT NULL,
  applied_at INTEGER NOT NULL
) STRICT;

-- seq orders commands as the database received them, whatever the senders' clocks say.
CREATE TABLE commands (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  service TEXT,
  args TEXT NOT NULL,
  actor TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  done_at INTEGER,
  outcome TEXT
) STRICT;

-- Only pending commands, which stay few while done ones pile up. The WHERE must match the
-- query in sqlite-tx.ts for SQLite to use this index.
CREATE INDEX commands_pending ON commands (seq) WHERE done_at IS NULL;

CREATE TABLE router_reports (
  router TEXT PRIMARY KEY,
  at INTEGER NOT NULL,
  served TEXT NOT NULL,
  windows TEXT NOT NULL
) STRICT;

CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
`;
