/**
 * The Store's operations on one SQLite connection, each a statement prepared once. They run in
 * whatever transaction is open on the connection, or as their own when none is.
 *
 * @module
 */

import type { Database, Statement } from "better-sqlite3";
import { type RolloutEvent, TERMINAL_PHASES } from "../../rollout/types.js";
import { StaleWriteError, UnknownAnalysisRunError } from "../errors.js";
import type {
  AnalysisRunRecord,
  MeasurementRecord,
  NewEvent,
  StoreTx,
  VersionRecord,
} from "../store.js";
import {
  type AnalysisRunRow,
  analysisRunOf,
  analysisRunParams,
  type EventRow,
  eventOf,
  eventParams,
  json,
  type MeasurementRow,
  measurementOf,
  measurementParams,
  type RolloutRow,
  rolloutOf,
  rolloutParams,
  type ServiceRow,
  serviceOf,
  serviceParams,
  type VersionRow,
  versionOf,
} from "./rows.js";

const ROLLOUT_COLUMNS =
  "id, service, stable, canary, phase, reason, step_index, step_started_at, progress_since, paused_at, traffic, strategy, gates, created_at, updated_at, finished_at, revision";

// Same text as the partial index rollouts_active, so the planner can use it.
const NOT_TERMINAL = `phase NOT IN (${[...TERMINAL_PHASES].map((p) => `'${p}'`).join(", ")})`;

/** The SQL of every operation (exported so tests can check each query's plan). */
export const SQL = {
  getService: "SELECT * FROM services WHERE name = ?",
  listServices: "SELECT * FROM services ORDER BY name",
  putService: `
    INSERT INTO services (name, traffic, rollout_id, previous_stable, updated_at)
    VALUES (@name, @traffic, @rollout_id, @previous_stable, @updated_at)
    ON CONFLICT (name) DO UPDATE SET
      traffic = excluded.traffic, rollout_id = excluded.rollout_id,
      previous_stable = excluded.previous_stable, updated_at = excluded.updated_at`,
  deleteService: "DELETE FROM services WHERE name = ?",

  getRollout: "SELECT * FROM rollouts WHERE id = ?",
  revisionOf: "SELECT revision FROM rollouts WHERE id = ?",
  insertRollout: `
    INSERT INTO rollouts (${ROLLOUT_COLUMNS})
    VALUES (@id, @service, @stable, @canary, @phase, @reason, @step_index, @step_started_at,
      @progress_since, @paused_at, @traffic, @strategy, @gates, @created_at, @updated_at, @finished_at,
      @revision)
    ON CONFLICT (id) DO NOTHING`,
  // The revision check is in the WHERE, so check and write are one atomic statement even when
  // another process writes the same file between our read and our write.
  updateRollout: `
    UPDATE rollouts SET
      service = @service, stable = @stable, canary = @canary, phase = @phase, reason = @reason,
      step_index = @step_index, step_started_at = @step_started_at,
      progress_since = @progress_since, paused_at = @paused_at, traffic = @traffic,
      strategy = @strategy, gates = @gates, created_at = @created_at, updated_at = @updated_at,
      finished_at = @finished_at, revision = @revision
    WHERE id = @id AND revision = @revision - 1`,
  activeRollouts: `SELECT * FROM rollouts WHERE ${NOT_TERMINAL} ORDER BY created_at, id`,
  rolloutsOf: "SELECT * FROM rollouts WHERE service = ? ORDER BY created_at DESC, id DESC LIMIT ?",

  appendEvent: `
    INSERT INTO events (rollout_id, service, at, type, actor, reason, phase, step_index, weight, data)
    VALUES (@rollout_id, @service, @at, @type, @actor, @reason, @phase, @step_index, @weight, @data)`,
  eventsOf: "SELECT * FROM events WHERE service = ? AND seq > ? ORDER BY seq LIMIT ?",
  eventsAfter: "SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?",

  recordVersion: `
    INSERT INTO versions (service, version, targets, first_seen_at, last_seen_at)
    VALUES (@service, @version, @targets, @at, @at)
    ON CONFLICT (service, version) DO UPDATE SET
      targets = excluded.targets, last_seen_at = excluded.last_seen_at`,
  versionsOf: "SELECT * FROM versions WHERE service = ? ORDER BY first_seen_at, version",

  putAnalysisRun: `
    INSERT INTO analysis_runs (id, rollout_id, service, kind, step_index, phase, message, spec,
      started_at, finished_at)
    VALUES (@id, @rollout_id, @service, @kind, @step_index, @phase, @message, @spec, @started_at,
      @finished_at)
    ON CONFLICT (id) DO UPDATE SET
      rollout_id = excluded.rollout_id, service = excluded.service, kind = excluded.kind,
      step_index = excluded.step_index, phase = excluded.phase, message = excluded.message,
      spec = excluded.spec, started_at = excluded.started_at, finished_at = excluded.finished_at`,
  getAnalysisRun: "SELECT * FROM analysis_runs WHERE id = ?",
  analysisRunsOf: "SELECT * FROM analysis_runs WHERE rollout_id = ? ORDER BY started_at, id",
  appendMeasurement: `
    INSERT INTO measurements (run_id, metric, phase, value, evidence, message, started_at,
      finished_at)
    VALUES (@run_id, @metric, @phase, @value, @evidence, @message, @started_at, @finished_at)`,
  measurementsOf: `
    SELECT * FROM measurements WHERE run_id = @run_id AND (@metric IS NULL OR metric = @metric)
    ORDER BY seq LIMIT @limit`,
} as const;

/** SQLite's "no limit". */
const ALL = -1;

function limitOf(limit: number | undefined): number {
  if (limit === undefined) return ALL;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(`limit must be a whole number >= 0, got ${limit}`);
  }
  return limit;
}

function isSqliteError(err: unknown, code: string): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === code;
}

/** The Store's operations on `db`, with every statement prepared now, once. */
export function createSqliteTx(db: Database): StoreTx {
  const s = Object.fromEntries(
    Object.entries(SQL).map(([name, text]) => [name, db.prepare(text)]),
  ) as Record<keyof typeof SQL, Statement>;
  s.revisionOf.pluck();

  return {
    getService(name) {
      const row = s.getService.get(name) as ServiceRow | undefined;
      return row === undefined ? undefined : serviceOf(row);
    },
    listServices() {
      return (s.listServices.all() as ServiceRow[]).map(serviceOf);
    },
    putService(state) {
      s.putService.run(serviceParams(state));
    },
    deleteService(name) {
      s.deleteService.run(name);
    },

    getRollout(id) {
      const row = s.getRollout.get(id) as RolloutRow | undefined;
      return row === undefined ? undefined : rolloutOf(row);
    },
    putRollout(rollout) {
      const params = rolloutParams(rollout);
      const statement = rollout.revision === 1 ? s.insertRollout : s.updateRollout;
      if (statement.run(params).changes === 1) return;
      const stored = s.revisionOf.get(rollout.id) as number | undefined;
      throw new StaleWriteError(rollout.id, rollout.revision, stored ?? null);
    },
    activeRollouts() {
      return (s.activeRollouts.all() as RolloutRow[]).map(rolloutOf);
    },
    rolloutsOf(service, limit) {
      return (s.rolloutsOf.all(service, limitOf(limit)) as RolloutRow[]).map(rolloutOf);
    },

    appendEvent(event: NewEvent): RolloutEvent {
      const params = eventParams(event);
      const seq = Number(s.appendEvent.run(params).lastInsertRowid);
      // Built from what was stored (parsed JSON), so it equals what eventsOf returns later.
      return eventOf({ seq, ...params });
    },
    eventsOf(service, opts = {}) {
      const rows = s.eventsOf.all(service, opts.afterSeq ?? 0, limitOf(opts.limit)) as EventRow[];
      return rows.map(eventOf);
    },
    eventsAfter(afterSeq, limit) {
      return (s.eventsAfter.all(afterSeq, limitOf(limit)) as EventRow[]).map(eventOf);
    },

    recordVersion(service, version, targets, at) {
      s.recordVersion.run({ service, version, targets: json(targets), at });
    },
    versionsOf(service): VersionRecord[] {
      return (s.versionsOf.all(service) as VersionRow[]).map(versionOf);
    },

    putAnalysisRun(run) {
      s.putAnalysisRun.run(analysisRunParams(run));
    },
    getAnalysisRun(id) {
      const row = s.getAnalysisRun.get(id) as AnalysisRunRow | undefined;
      return row === undefined ? undefined : analysisRunOf(row);
    },
    analysisRunsOf(rolloutId): AnalysisRunRecord[] {
      return (s.analysisRunsOf.all(rolloutId) as AnalysisRunRow[]).map(analysisRunOf);
    },
    appendMeasurement(m): MeasurementRecord {
      const params = measurementParams(m);
      let seq: number;
      try {
        seq = Number(s.appendMeasurement.run(params).lastInsertRowid);
      } catch (err) {
        if (isSqliteError(err, "SQLITE_CONSTRAINT_FOREIGNKEY")) {
          throw new UnknownAnalysisRunError(m.runId);
        }
        throw err;
      }
      return measurementOf({ seq, ...params });
    },
    measurementsOf(runId, opts = {}) {
      const rows = s.measurementsOf.all({
        run_id: runId,
        metric: opts.metric ?? null,
        limit: limitOf(opts.limit),
      }) as MeasurementRow[];
      return rows.map(measurementOf);
    },
  };
}
