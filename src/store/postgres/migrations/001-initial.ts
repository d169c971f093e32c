/**
 * The first Postgres schema. Frozen once released: change it with a new numbered migration.
 *
 * Times are bigint milliseconds since the epoch (the store maps them to JS numbers), nested data
 * is jsonb read back whole. Sequence numbers are identity columns: appends take the history lock
 * (see `tx.ts`) so they commit in seq order.
 *
 * @module
 */

export const sql = `
CREATE TABLE services (
  name text PRIMARY KEY,
  traffic jsonb NOT NULL,
  rollout_id text,
  previous_stable jsonb,
  updated_at bigint NOT NULL,
  revision integer NOT NULL
);

CREATE TABLE versions (
  service text NOT NULL,
  version text NOT NULL,
  targets jsonb NOT NULL,
  first_seen_at bigint NOT NULL,
  last_seen_at bigint NOT NULL,
  PRIMARY KEY (service, version)
);

CREATE INDEX versions_by_service ON versions (service, first_seen_at, version);

CREATE TABLE rollouts (
  id text PRIMARY KEY,
  service text NOT NULL,
  stable jsonb NOT NULL,
  canary jsonb NOT NULL,
  phase text NOT NULL,
  reason text NOT NULL,
  step_index integer NOT NULL,
  step_started_at bigint NOT NULL,
  progress_since bigint NOT NULL,
  paused_at bigint,
  traffic jsonb NOT NULL,
  strategy jsonb NOT NULL,
  gates jsonb NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  finished_at bigint,
  revision integer NOT NULL
);

CREATE INDEX rollouts_by_service ON rollouts (service, created_at, id);
-- Only unfinished rollouts, which stay few while finished ones pile up (same text as tx.ts).
CREATE INDEX rollouts_active ON rollouts (created_at, id) WHERE phase NOT IN ('Healthy', 'Aborted');

CREATE TABLE events (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  rollout_id text,
  service text NOT NULL,
  at bigint NOT NULL,
  type text NOT NULL,
  actor text NOT NULL,
  reason text NOT NULL,
  phase text,
  step_index integer,
  weight double precision,
  data jsonb NOT NULL
);

CREATE INDEX events_by_service ON events (service, seq);

-- History is append-only: a later migration that prunes must drop this first, deliberately.
CREATE FUNCTION aviary_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events are append-only';
END $$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION aviary_append_only();

CREATE TABLE analysis_runs (
  id text PRIMARY KEY,
  rollout_id text NOT NULL,
  service text NOT NULL,
  kind text NOT NULL,
  step_index integer,
  phase text NOT NULL,
  message text NOT NULL,
  spec jsonb NOT NULL,
  started_at bigint NOT NULL,
  finished_at bigint
);

CREATE INDEX analysis_runs_by_rollout ON analysis_runs (rollout_id, started_at, id);

CREATE TABLE measurements (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id text NOT NULL REFERENCES analysis_runs (id),
  metric text NOT NULL,
  phase text NOT NULL,
  value double precision,
  evidence jsonb NOT NULL,
  message text NOT NULL,
  started_at bigint NOT NULL,
  finished_at bigint NOT NULL
);

CREATE INDEX measurements_by_run ON measurements (run_id, seq);

-- One row: the spec every instance runs.
CREATE TABLE applied_spec (
  id integer PRIMARY KEY CHECK (id = 1),
  revision integer NOT NULL,
  spec jsonb NOT NULL,
  source text NOT NULL,
  applied_at bigint NOT NULL
);

-- seq orders commands created in the same millisecond.
CREATE TABLE commands (
  seq bigint GENERATED ALWAYS AS IDENTITY,
  id text PRIMARY KEY,
  kind text NOT NULL,
  service text,
  args jsonb NOT NULL,
  actor jsonb NOT NULL,
  created_at bigint NOT NULL,
  done_at bigint,
  outcome jsonb
);

CREATE INDEX commands_pending ON commands (created_at, seq) WHERE done_at IS NULL;

CREATE TABLE router_reports (
  router text PRIMARY KEY,
  at bigint NOT NULL,
  served jsonb NOT NULL,
  windows jsonb NOT NULL
);

-- Times on the database's clock, so instances with skewed clocks agree on expiry.
CREATE TABLE leases (
  name text PRIMARY KEY,
  holder text NOT NULL,
  epoch bigint NOT NULL,
  expires_at bigint NOT NULL
);
`;
