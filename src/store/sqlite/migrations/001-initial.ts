/**
 * The first schema. Frozen once released: change the schema with a new numbered migration.
 *
 * Scalars the store queries or sorts on are columns; nested data (traffic, versions, strategy,
 * event data, evidence, analysis spec) is JSON text, read back whole. Tables are STRICT so a
 * value of the wrong type is refused instead of silently stored. Phases and kinds have no CHECK
 * constraints on purpose: SQLite cannot alter a CHECK, so a new phase would need a table rebuild.
 *
 * @module
 */

export const sql = `
CREATE TABLE services (
  name TEXT PRIMARY KEY,
  traffic TEXT NOT NULL,
  rollout_id TEXT,
  previous_stable TEXT,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE versions (
  service TEXT NOT NULL,
  version TEXT NOT NULL,
  targets TEXT NOT NULL,
  first_seen_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  PRIMARY KEY (service, version)
) STRICT;

CREATE INDEX versions_by_service ON versions (service, first_seen_at, version);

CREATE TABLE rollouts (
  id TEXT PRIMARY KEY,
  service TEXT NOT NULL,
  stable TEXT NOT NULL,
  canary TEXT NOT NULL,
  phase TEXT NOT NULL,
  reason TEXT NOT NULL,
  step_index INTEGER NOT NULL,
  step_started_at INTEGER NOT NULL,
  progress_since INTEGER NOT NULL,
  paused_at INTEGER,
  traffic TEXT NOT NULL,
  strategy TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER,
  revision INTEGER NOT NULL
) STRICT;

CREATE INDEX rollouts_by_service ON rollouts (service, created_at, id);

-- Only unfinished rollouts, which stay few while finished ones pile up. The WHERE must match
-- the query in sqlite-tx.ts (built from TERMINAL_PHASES) for SQLite to use this index.
CREATE INDEX rollouts_active ON rollouts (created_at, id) WHERE phase NOT IN ('Healthy', 'Aborted');

-- AUTOINCREMENT: a sequence number, once committed, is never handed out again, even if rows
-- are ever pruned; stream clients resume from the last seq they saw.
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  rollout_id TEXT,
  service TEXT NOT NULL,
  at INTEGER NOT NULL,
  type TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  phase TEXT,
  step_index INTEGER,
  weight REAL,
  data TEXT NOT NULL
) STRICT;

CREATE INDEX events_by_service ON events (service, seq);

-- History is append-only: a later migration that prunes must drop these first, deliberately.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
  SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
  SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TABLE analysis_runs (
  id TEXT PRIMARY KEY,
  rollout_id TEXT NOT NULL,
  service TEXT NOT NULL,
  kind TEXT NOT NULL,
  step_index INTEGER,
  phase TEXT NOT NULL,
  message TEXT NOT NULL,
  spec TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER
) STRICT;

CREATE INDEX analysis_runs_by_rollout ON analysis_runs (rollout_id, started_at, id);

CREATE TABLE measurements (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL REFERENCES analysis_runs (id),
  metric TEXT NOT NULL,
  phase TEXT NOT NULL,
  value REAL,
  evidence TEXT NOT NULL,
  message TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL
) STRICT;

CREATE INDEX measurements_by_run ON measurements (run_id, seq);
`;
