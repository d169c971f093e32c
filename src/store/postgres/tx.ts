/**
 * The Store's operations on one Postgres handle: the pool (each statement its own transaction)
 * or a transaction's connection. Each write reports the kind of change it made, so the
 * transaction can NOTIFY other instances at its end.
 *
 * Sequence numbers: an identity column hands out seqs at INSERT, not at COMMIT, so two
 * concurrent appenders could commit out of order and a tailer that read past the later seq would
 * never see the earlier one. Every append therefore first takes HISTORY_LOCK, a
 * transaction-level advisory lock held until commit: appends commit one after the other, in seq
 * order. (Fenced transactions are also serialised per leader by the lease row, but only in
 * share mode, and unfenced writers exist, so the lease alone is not enough.)
 *
 * @module
 */

import type postgres from "postgres";
import { TERMINAL_PHASES } from "../../rollout/types.js";
import { CommandCommitError, StaleWriteError, UnknownAnalysisRunError } from "../errors.js";
import type { ChangeKind, StoreTx } from "../store.js";
import {
  analysisRunOf,
  appliedSpecOf,
  commandOf,
  eventOf,
  json,
  measurementOf,
  rolloutOf,
  routerReportOf,
  serviceOf,
  trackingReportOf,
  trafficStatusOf,
  versionOf,
} from "./rows.js";

/** The name of the notifications' cursor in `cursors`. */
const NOTIFY_CURSOR = "notifications";

/** Advisory lock key serialising history appends ("aviary-history", truncated to 8 bytes). */
export const HISTORY_LOCK = "7023150048186463592";

// Same text as the partial index rollouts_active, so the planner can use it.
const NOT_TERMINAL = `phase NOT IN (${[...TERMINAL_PHASES].map((p) => `'${p}'`).join(", ")})`;

function limitOf(limit: number | undefined): number | null {
  if (limit === undefined) return null;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(`limit must be a whole number >= 0, got ${limit}`);
  }
  return limit;
}

/** The row an INSERT ... RETURNING returned (it always returns one). */
function returned<T>(row: T | undefined): T {
  if (row === undefined) throw new Error("INSERT ... RETURNING returned no row");
  return row;
}

function isForeignKeyViolation(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === "23503";
}

/** The operations on `sql`; `changed` is told the kind of every write. */
export function createPgTx(sql: postgres.Sql, changed: (kind: ChangeKind) => void): StoreTx {
  let historyLocked = false;
  const lockHistory = async () => {
    // Once per transaction is enough (the lock is held until it ends); on the pool each append
    // is its own transaction, so the flag is only set for a transaction's handle.
    if (historyLocked) return;
    await sql`SELECT pg_advisory_xact_lock(${HISTORY_LOCK}::bigint)`;
    historyLocked = inTransaction;
  };
  const inTransaction = !("begin" in sql);

  return {
    async getService(name) {
      const [row] = await sql`SELECT * FROM services WHERE name = ${name}`;
      return row === undefined ? undefined : serviceOf(row);
    },
    async listServices() {
      return (await sql`SELECT * FROM services ORDER BY name`).map(serviceOf);
    },
    async putService(s) {
      const written =
        s.revision === 1
          ? await sql`
            INSERT INTO services (name, traffic, rollout_id, previous_stable, updated_at, revision)
            VALUES (${s.name}, ${json(s.traffic)}::text::jsonb, ${s.rolloutId},
              ${s.previousStable === null ? null : json(s.previousStable)}::text::jsonb, ${s.updatedAt}, 1)
            ON CONFLICT (name) DO NOTHING`
          : await sql`
            UPDATE services SET traffic = ${json(s.traffic)}::text::jsonb, rollout_id = ${s.rolloutId},
              previous_stable = ${s.previousStable === null ? null : json(s.previousStable)}::text::jsonb,
              updated_at = ${s.updatedAt}, revision = ${s.revision}
            WHERE name = ${s.name} AND revision = ${s.revision - 1}`;
      if (written.count !== 1) {
        const [row] = await sql`SELECT revision FROM services WHERE name = ${s.name}`;
        throw new StaleWriteError("service", s.name, s.revision, row?.revision ?? null);
      }
      changed("state");
    },
    async deleteService(name) {
      await sql`DELETE FROM services WHERE name = ${name}`;
      changed("state");
    },

    async getRollout(id) {
      const [row] = await sql`SELECT * FROM rollouts WHERE id = ${id}`;
      return row === undefined ? undefined : rolloutOf(row);
    },
    async putRollout(r) {
      const written =
        r.revision === 1
          ? await sql`
            INSERT INTO rollouts (id, service, stable, canary, phase, reason, step_index,
              step_started_at, progress_since, paused_at, traffic, strategy, gates, created_at,
              updated_at, finished_at, revision)
            VALUES (${r.id}, ${r.service}, ${json(r.stable)}::text::jsonb, ${json(r.canary)}::text::jsonb,
              ${r.phase}, ${r.reason}, ${r.stepIndex}, ${r.stepStartedAt}, ${r.progressSince},
              ${r.pausedAt}, ${json(r.traffic)}::text::jsonb, ${json(r.strategy)}::text::jsonb,
              ${json(r.gates)}::text::jsonb, ${r.createdAt}, ${r.updatedAt}, ${r.finishedAt}, 1)
            ON CONFLICT (id) DO NOTHING`
          : await sql`
            UPDATE rollouts SET service = ${r.service}, stable = ${json(r.stable)}::text::jsonb,
              canary = ${json(r.canary)}::text::jsonb, phase = ${r.phase}, reason = ${r.reason},
              step_index = ${r.stepIndex}, step_started_at = ${r.stepStartedAt},
              progress_since = ${r.progressSince}, paused_at = ${r.pausedAt},
              traffic = ${json(r.traffic)}::text::jsonb, strategy = ${json(r.strategy)}::text::jsonb,
              gates = ${json(r.gates)}::text::jsonb, created_at = ${r.createdAt},
              updated_at = ${r.updatedAt}, finished_at = ${r.finishedAt}, revision = ${r.revision}
            WHERE id = ${r.id} AND revision = ${r.revision - 1}`;
      if (written.count !== 1) {
        const [row] = await sql`SELECT revision FROM rollouts WHERE id = ${r.id}`;
        throw new StaleWriteError("rollout", r.id, r.revision, row?.revision ?? null);
      }
      changed("state");
    },
    async activeRollouts() {
      return (
        await sql.unsafe(
          `SELECT * FROM rollouts WHERE ${NOT_TERMINAL} ORDER BY created_at, id`,
          [],
          {
            prepare: true,
          },
        )
      ).map(rolloutOf);
    },
    async rolloutsOf(service, limit) {
      return (
        await sql`SELECT * FROM rollouts WHERE service = ${service}
          ORDER BY created_at DESC, id DESC LIMIT ${limitOf(limit)}`
      ).map(rolloutOf);
    },

    async appendEvent(e) {
      await lockHistory();
      const [row] = await sql`
        INSERT INTO events (rollout_id, service, at, type, actor, reason, phase, step_index, weight, data)
        VALUES (${e.rolloutId}, ${e.service}, ${e.at}, ${e.type}, ${e.actor}, ${e.reason}, ${e.phase},
          ${e.stepIndex}, ${e.weight}, ${json(e.data)}::text::jsonb)
        RETURNING *`;
      changed("events");
      return eventOf(returned(row));
    },
    async eventsOf(service, opts = {}) {
      return (
        await sql`SELECT * FROM events WHERE service = ${service} AND seq > ${opts.afterSeq ?? 0}
          ORDER BY seq LIMIT ${limitOf(opts.limit)}`
      ).map(eventOf);
    },
    async eventsAfter(afterSeq, limit) {
      return (
        await sql`SELECT * FROM events WHERE seq > ${afterSeq} ORDER BY seq LIMIT ${limitOf(limit)}`
      ).map(eventOf);
    },

    async recordVersion(service, version, targets, at) {
      await sql`
        INSERT INTO versions (service, version, targets, first_seen_at, last_seen_at)
        VALUES (${service}, ${version}, ${json(targets)}::text::jsonb, ${at}, ${at})
        ON CONFLICT (service, version) DO UPDATE SET
          targets = excluded.targets, last_seen_at = excluded.last_seen_at`;
      changed("state");
    },
    async versionsOf(service) {
      return (
        await sql`SELECT * FROM versions WHERE service = ${service} ORDER BY first_seen_at, version`
      ).map(versionOf);
    },

    async putAnalysisRun(r) {
      await sql`
        INSERT INTO analysis_runs (id, rollout_id, service, kind, step_index, phase, message, spec,
          started_at, finished_at)
        VALUES (${r.id}, ${r.rolloutId}, ${r.service}, ${r.kind}, ${r.stepIndex}, ${r.phase},
          ${r.message}, ${json(r.spec)}::text::jsonb, ${r.startedAt}, ${r.finishedAt})
        ON CONFLICT (id) DO UPDATE SET
          rollout_id = excluded.rollout_id, service = excluded.service, kind = excluded.kind,
          step_index = excluded.step_index, phase = excluded.phase, message = excluded.message,
          spec = excluded.spec, started_at = excluded.started_at, finished_at = excluded.finished_at`;
      changed("state");
    },
    async getAnalysisRun(id) {
      const [row] = await sql`SELECT * FROM analysis_runs WHERE id = ${id}`;
      return row === undefined ? undefined : analysisRunOf(row);
    },
    async analysisRunsOf(rolloutId) {
      return (
        await sql`SELECT * FROM analysis_runs WHERE rollout_id = ${rolloutId} ORDER BY started_at, id`
      ).map(analysisRunOf);
    },
    async appendMeasurement(m) {
      await lockHistory();
      try {
        const [row] = await sql`
          INSERT INTO measurements (run_id, metric, phase, value, evidence, message, started_at,
            finished_at)
          VALUES (${m.runId}, ${m.metric}, ${m.phase}, ${m.value}, ${json(m.evidence)}::text::jsonb,
            ${m.message}, ${m.startedAt}, ${m.finishedAt})
          RETURNING *`;
        changed("events");
        return measurementOf(returned(row));
      } catch (err) {
        if (isForeignKeyViolation(err)) throw new UnknownAnalysisRunError(m.runId);
        throw err;
      }
    },
    async measurementsOf(runId, opts = {}) {
      return (
        await sql`SELECT * FROM measurements WHERE run_id = ${runId}
          AND (${opts.metric ?? null}::text IS NULL OR metric = ${opts.metric ?? null})
          ORDER BY seq LIMIT ${limitOf(opts.limit)}`
      ).map(measurementOf);
    },
    async measurementsAfter(afterSeq, limit) {
      return (
        await sql`SELECT * FROM measurements WHERE seq > ${afterSeq} ORDER BY seq
          LIMIT ${limitOf(limit)}`
      ).map(measurementOf);
    },

    async getAppliedSpec() {
      const [row] = await sql`SELECT * FROM applied_spec WHERE id = 1`;
      return row === undefined ? undefined : appliedSpecOf(row);
    },
    async putAppliedSpec(s) {
      const written =
        s.revision === 1
          ? await sql`
            INSERT INTO applied_spec (id, revision, spec, source, applied_at)
            VALUES (1, 1, ${json(s.spec)}::text::jsonb, ${s.source}, ${s.appliedAt})
            ON CONFLICT (id) DO NOTHING`
          : await sql`
            UPDATE applied_spec SET revision = ${s.revision}, spec = ${json(s.spec)}::text::jsonb,
              source = ${s.source}, applied_at = ${s.appliedAt}
            WHERE id = 1 AND revision = ${s.revision - 1}`;
      if (written.count !== 1) {
        const [row] = await sql`SELECT revision FROM applied_spec WHERE id = 1`;
        throw new StaleWriteError("spec", "applied", s.revision, row?.revision ?? null);
      }
      changed("state");
    },

    async putCommand(c) {
      const [row] = await sql`
        INSERT INTO commands (id, kind, service, args, actor, created_at)
        VALUES (${c.id}, ${c.kind}, ${c.service}, ${json(c.args)}::text::jsonb, ${json(c.actor)}::text::jsonb,
          ${c.createdAt})
        RETURNING *`;
      changed("commands");
      return commandOf(returned(row));
    },
    async getCommand(id) {
      const [row] = await sql`SELECT * FROM commands WHERE id = ${id}`;
      return row === undefined ? undefined : commandOf(row);
    },
    async pendingCommands(limit) {
      return (
        await sql`SELECT * FROM commands WHERE done_at IS NULL ORDER BY created_at, seq
          LIMIT ${limitOf(limit)}`
      ).map(commandOf);
    },
    async finishCommand(id, outcome, at) {
      const written = await sql`
        UPDATE commands SET done_at = ${at}, outcome = ${json(outcome)}::text::jsonb
        WHERE id = ${id} AND done_at IS NULL`;
      if (written.count !== 1) return false;
      changed("commands");
      return true;
    },
    async recordCommandCommit(id, commit) {
      const written = await sql`
        UPDATE commands SET committed_at = ${commit.at}, committed = ${json(commit.data)}::text::jsonb
        WHERE id = ${id} AND committed_at IS NULL`;
      if (written.count === 1) return;
      const [row] = await sql`SELECT committed_at FROM commands WHERE id = ${id}`;
      throw new CommandCommitError(id, row?.committed_at ?? undefined);
    },

    async putRouterReport(r) {
      await sql`
        INSERT INTO router_reports (router, at, served, windows)
        VALUES (${r.router}, ${r.at}, ${json(r.served)}::text::jsonb, ${json(r.windows)}::text::jsonb)
        ON CONFLICT (router) DO UPDATE SET
          at = excluded.at, served = excluded.served, windows = excluded.windows`;
      changed("reports");
    },
    async routerReports() {
      return (await sql`SELECT * FROM router_reports ORDER BY router`).map(routerReportOf);
    },
    async deleteRouterReport(router) {
      await sql`DELETE FROM router_reports WHERE router = ${router}`;
      changed("reports");
    },

    // Tracking reports wake nobody: every instance reads them on its own period.
    async putTrackingReport(r) {
      await sql`
        INSERT INTO tracking_reports (instance, at, windows)
        VALUES (${r.instance}, ${r.at}, ${json(r.windows)}::text::jsonb)
        ON CONFLICT (instance) DO UPDATE SET at = excluded.at, windows = excluded.windows`;
    },
    async trackingReports() {
      return (await sql`SELECT * FROM tracking_reports ORDER BY instance`).map(trackingReportOf);
    },
    async deleteTrackingReportsBefore(at) {
      return (await sql`DELETE FROM tracking_reports WHERE at < ${at}`).count;
    },

    // Neither the cursor nor a status wakes anyone: only a new leader and the API read them.
    async getNotifyCursor() {
      const [row] = await sql`SELECT seq FROM cursors WHERE name = ${NOTIFY_CURSOR}`;
      return row === undefined ? undefined : (row.seq as number);
    },
    async putNotifyCursor(seq, at) {
      // Never back: a cursor only says how far the leader got.
      await sql`
        INSERT INTO cursors (name, seq, updated_at) VALUES (${NOTIFY_CURSOR}, ${seq}, ${at})
        ON CONFLICT (name) DO UPDATE SET
          seq = greatest(cursors.seq, excluded.seq), updated_at = excluded.updated_at`;
    },

    async getTrafficStatus(service) {
      const [row] = await sql`SELECT * FROM traffic_status WHERE service = ${service}`;
      return row === undefined ? undefined : trafficStatusOf(row);
    },
    async putTrafficStatus(r) {
      await sql`
        INSERT INTO traffic_status (service, status, recorded_at, recorded_by)
        VALUES (${r.service}, ${json(r.status)}::text::jsonb, ${r.recordedAt}, ${r.recordedBy})
        ON CONFLICT (service) DO UPDATE SET status = excluded.status,
          recorded_at = excluded.recorded_at, recorded_by = excluded.recorded_by`;
    },
    async deleteTrafficStatus(service) {
      await sql`DELETE FROM traffic_status WHERE service = ${service}`;
    },
  };
}
