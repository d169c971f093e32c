/**
 * The Store's operations on one SQLite connection, each a statement prepared once. They run in
 * whatever transaction is open on the connection, or as their own when none is.
 *
 * @module
 */

import type { Database, Statement } from "better-sqlite3";
import { type RolloutEvent, TERMINAL_PHASES } from "../../rollout/types.js";
import { CommandCommitError, StaleWriteError, UnknownAnalysisRunError } from "../errors.js";
import type {
  AnalysisRunRecord,
  MeasurementRecord,
  NewEvent,
  StoreTx,
  VersionRecord,
} from "../store.js";
import {
  type AnalysisRunRow,
  type AppliedSpecRow,
  analysisRunOf,
  analysisRunParams,
  appliedSpecOf,
  type CommandRow,
  commandOf,
  type EventRow,
  eventOf,
  eventParams,
  json,
  type MeasurementRow,
  measurementOf,
  measurementParams,
  type RolloutRow,
  type RouterReportRow,
  rolloutOf,
  rolloutParams,
  routerReportOf,
  type ServiceRow,
  serviceOf,
  serviceParams,
  type TrackingReportRow,
  type TrafficStatusRow,
  trackingReportOf,
  trafficStatusOf,
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
  serviceRevision: "SELECT revision FROM services WHERE name = ?",
  insertService: `
    INSERT INTO services (name, traffic, rollout_id, previous_stable, updated_at, revision)
    VALUES (@name, @traffic, @rollout_id, @previous_stable, @updated_at, @revision)
    ON CONFLICT (name) DO NOTHING`,
  // As updateRollout: the revision check is in the WHERE, one atomic statement.
  updateService: `
    UPDATE services SET
      traffic = @traffic, rollout_id = @rollout_id, previous_stable = @previous_stable,
      updated_at = @updated_at, revision = @revision
    WHERE name = @name AND revision = @revision - 1`,
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
  measurementsAfter: "SELECT * FROM measurements WHERE seq > ? ORDER BY seq LIMIT ?",

  getAppliedSpec: "SELECT revision, spec, source, applied_at FROM applied_spec WHERE id = 1",
  insertAppliedSpec: `
    INSERT INTO applied_spec (id, revision, spec, source, applied_at)
    VALUES (1, @revision, @spec, @source, @applied_at)
    ON CONFLICT (id) DO NOTHING`,
  updateAppliedSpec: `
    UPDATE applied_spec SET revision = @revision, spec = @spec, source = @source,
      applied_at = @applied_at
    WHERE id = 1 AND revision = @revision - 1`,

  putCommand: `
    INSERT INTO commands (id, kind, service, args, actor, created_at)
    VALUES (@id, @kind, @service, @args, @actor, @created_at)`,
  getCommand: "SELECT * FROM commands WHERE id = ?",
  // Same WHERE as the partial index commands_pending.
  pendingCommands: "SELECT * FROM commands WHERE done_at IS NULL ORDER BY seq LIMIT ?",
  finishCommand: `
    UPDATE commands SET done_at = @done_at, outcome = @outcome
    WHERE id = @id AND done_at IS NULL`,
  recordCommandCommit: `
    UPDATE commands SET committed_at = @at, committed = @data
    WHERE id = @id AND committed_at IS NULL`,
  commandCommittedAt: "SELECT committed_at FROM commands WHERE id = ?",

  putRouterReport: `
    INSERT INTO router_reports (router, at, served, windows)
    VALUES (@router, @at, @served, @windows)
    ON CONFLICT (router) DO UPDATE SET
      at = excluded.at, served = excluded.served, windows = excluded.windows`,
  routerReports: "SELECT * FROM router_reports ORDER BY router",
  deleteRouterReport: "DELETE FROM router_reports WHERE router = ?",

  putTrackingReport: `
    INSERT INTO tracking_reports (instance, at, windows) VALUES (@instance, @at, @windows)
    ON CONFLICT (instance) DO UPDATE SET at = excluded.at, windows = excluded.windows`,
  trackingReports: "SELECT * FROM tracking_reports ORDER BY instance",
  deleteTrackingReportsBefore: "DELETE FROM tracking_reports WHERE at < ?",

  getCursor: "SELECT seq FROM cursors WHERE name = ?",
  // Never back: a cursor only says how far the leader got.
  putCursor: `
    INSERT INTO cursors (name, seq, updated_at) VALUES (@name, @seq, @at)
    ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq), updated_at = excluded.updated_at`,

  getTrafficStatus: "SELECT * FROM traffic_status WHERE service = ?",
  putTrafficStatus: `
    INSERT INTO traffic_status (service, status, recorded_at, recorded_by)
    VALUES (@service, @status, @recorded_at, @recorded_by)
    ON CONFLICT (service) DO UPDATE SET status = excluded.status,
      recorded_at = excluded.recorded_at, recorded_by = excluded.recorded_by`,
  deleteTrafficStatus: "DELETE FROM traffic_status WHERE service = ?",
} as const;

/** The name of the notifications' cursor in `cursors`. */
export const NOTIFY_CURSOR = "notifications";

/**
 * The operations as better-sqlite3 runs them: synchronously. The store wraps each in a promise
 * (and, outside a transaction, in its one-at-a-time queue).
 */
export type SyncStoreTx = {
  [K in keyof StoreTx]: (...args: Parameters<StoreTx[K]>) => Awaited<ReturnType<StoreTx[K]>>;
};

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
export function createSqliteTx(db: Database): SyncStoreTx {
  const s = Object.fromEntries(
    Object.entries(SQL).map(([name, text]) => [name, db.prepare(text)]),
  ) as Record<keyof typeof SQL, Statement>;
  s.revisionOf.pluck();
  s.serviceRevision.pluck();
  s.commandCommittedAt.pluck();

  return {
    getService(name) {
      const row = s.getService.get(name) as ServiceRow | undefined;
      return row === undefined ? undefined : serviceOf(row);
    },
    listServices() {
      return (s.listServices.all() as ServiceRow[]).map(serviceOf);
    },
    putService(state) {
      const params = serviceParams(state);
      const statement = state.revision === 1 ? s.insertService : s.updateService;
      if (statement.run(params).changes === 1) return;
      const stored = s.serviceRevision.get(state.name) as number | undefined;
      throw new StaleWriteError("service", state.name, state.revision, stored ?? null);
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
      throw new StaleWriteError("rollout", rollout.id, rollout.revision, stored ?? null);
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
    measurementsAfter(afterSeq, limit) {
      return (s.measurementsAfter.all(afterSeq, limitOf(limit)) as MeasurementRow[]).map(
        measurementOf,
      );
    },

    getAppliedSpec() {
      const row = s.getAppliedSpec.get() as AppliedSpecRow | undefined;
      return row === undefined ? undefined : appliedSpecOf(row);
    },
    putAppliedSpec(spec) {
      const params = {
        revision: spec.revision,
        spec: json(spec.spec),
        source: spec.source,
        applied_at: spec.appliedAt,
      };
      const statement = spec.revision === 1 ? s.insertAppliedSpec : s.updateAppliedSpec;
      if (statement.run(params).changes === 1) return;
      const stored = s.getAppliedSpec.get() as AppliedSpecRow | undefined;
      throw new StaleWriteError("spec", "applied", spec.revision, stored?.revision ?? null);
    },

    putCommand(command) {
      s.putCommand.run({
        id: command.id,
        kind: command.kind,
        service: command.service,
        args: json(command.args),
        actor: json(command.actor),
        created_at: command.createdAt,
      });
      // Read back, so the record is what getCommand returns later (parsed JSON, no shared objects).
      return commandOf(s.getCommand.get(command.id) as CommandRow);
    },
    getCommand(id) {
      const row = s.getCommand.get(id) as CommandRow | undefined;
      return row === undefined ? undefined : commandOf(row);
    },
    pendingCommands(limit) {
      return (s.pendingCommands.all(limitOf(limit)) as CommandRow[]).map(commandOf);
    },
    finishCommand(id, outcome, at) {
      return s.finishCommand.run({ id, outcome: json(outcome), done_at: at }).changes === 1;
    },
    recordCommandCommit(id, commit) {
      if (s.recordCommandCommit.run({ id, at: commit.at, data: json(commit.data) }).changes === 1)
        return;
      const at = s.commandCommittedAt.get(id) as number | null | undefined;
      throw new CommandCommitError(id, at ?? undefined);
    },

    putRouterReport(report) {
      s.putRouterReport.run({
        router: report.router,
        at: report.at,
        served: json(report.served),
        windows: json(report.windows),
      });
    },
    routerReports() {
      return (s.routerReports.all() as RouterReportRow[]).map(routerReportOf);
    },
    deleteRouterReport(router) {
      s.deleteRouterReport.run(router);
    },

    putTrackingReport(report) {
      s.putTrackingReport.run({
        instance: report.instance,
        at: report.at,
        windows: json(report.windows),
      });
    },
    trackingReports() {
      return (s.trackingReports.all() as TrackingReportRow[]).map(trackingReportOf);
    },
    deleteTrackingReportsBefore(at) {
      return s.deleteTrackingReportsBefore.run(at).changes;
    },

    getNotifyCursor() {
      return s.getCursor.pluck().get(NOTIFY_CURSOR) as number | undefined;
    },
    putNotifyCursor(seq, at) {
      s.putCursor.run({ name: NOTIFY_CURSOR, seq, at });
    },

    getTrafficStatus(service) {
      const row = s.getTrafficStatus.get(service) as TrafficStatusRow | undefined;
      return row === undefined ? undefined : trafficStatusOf(row);
    },
    putTrafficStatus(r) {
      s.putTrafficStatus.run({
        service: r.service,
        status: json(r.status),
        recorded_at: r.recordedAt,
        recorded_by: r.recordedBy,
      });
    },
    deleteTrafficStatus(service) {
      s.deleteTrafficStatus.run(service);
    },
  };
}
