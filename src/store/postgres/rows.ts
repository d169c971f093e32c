/**
 * Postgres rows to records. jsonb columns arrive parsed and bigint columns as numbers (the
 * store's type parsers), so mapping is renaming; records read back never share objects with the
 * caller's, since every read parses anew.
 *
 * @module
 */

import type {
  Actor,
  Rollout,
  RolloutEvent,
  RolloutPhase,
  ServiceState,
} from "../../rollout/types.js";
import type {
  AnalysisRunRecord,
  AppliedSpec,
  CommandRecord,
  MeasurementRecord,
  RouterReport,
  TrackingReport,
  TrafficStatusRecord,
  VersionRecord,
} from "../store.js";

/**
 * jsonb text of a value. `undefined` (JSON has none) is stored as null rather than refused;
 * NaN and Infinity become null, as in JSON.
 */
export function json(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

// biome-ignore lint/suspicious/noExplicitAny: rows are untyped until mapped here.
type Row = Record<string, any>;

export const serviceOf = (r: Row): ServiceState => ({
  name: r.name,
  traffic: r.traffic,
  rolloutId: r.rollout_id,
  previousStable: r.previous_stable,
  updatedAt: r.updated_at,
  revision: r.revision,
});

export const rolloutOf = (r: Row): Rollout => ({
  id: r.id,
  service: r.service,
  stable: r.stable,
  canary: r.canary,
  phase: r.phase as RolloutPhase,
  reason: r.reason,
  stepIndex: r.step_index,
  stepStartedAt: r.step_started_at,
  progressSince: r.progress_since,
  pausedAt: r.paused_at,
  traffic: r.traffic,
  strategy: r.strategy,
  gates: r.gates,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  finishedAt: r.finished_at,
  revision: r.revision,
});

export const eventOf = (r: Row): RolloutEvent => ({
  seq: r.seq,
  rolloutId: r.rollout_id,
  service: r.service,
  at: r.at,
  type: r.type,
  actor: r.actor as Actor,
  reason: r.reason,
  phase: r.phase as RolloutPhase | null,
  stepIndex: r.step_index,
  weight: r.weight,
  data: r.data,
});

export const versionOf = (r: Row): VersionRecord => ({
  service: r.service,
  version: r.version,
  targets: r.targets,
  firstSeenAt: r.first_seen_at,
  lastSeenAt: r.last_seen_at,
});

export const analysisRunOf = (r: Row): AnalysisRunRecord => ({
  id: r.id,
  rolloutId: r.rollout_id,
  service: r.service,
  kind: r.kind,
  stepIndex: r.step_index,
  phase: r.phase,
  message: r.message,
  spec: r.spec,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

export const measurementOf = (r: Row): MeasurementRecord => ({
  seq: r.seq,
  runId: r.run_id,
  metric: r.metric,
  phase: r.phase,
  value: r.value,
  evidence: r.evidence,
  message: r.message,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

export const appliedSpecOf = (r: Row): AppliedSpec => ({
  revision: r.revision,
  spec: r.spec,
  source: r.source,
  appliedAt: r.applied_at,
});

export const commandOf = (r: Row): CommandRecord => ({
  id: r.id,
  kind: r.kind,
  service: r.service,
  args: r.args,
  actor: r.actor,
  createdAt: r.created_at,
  doneAt: r.done_at,
  outcome: r.outcome,
  committed: r.committed_at === null ? null : { at: r.committed_at, data: r.committed ?? {} },
});

export const routerReportOf = (r: Row): RouterReport => ({
  router: r.router,
  at: r.at,
  served: r.served,
  windows: r.windows,
});

export const trackingReportOf = (r: Row): TrackingReport => ({
  instance: r.instance,
  at: r.at,
  windows: r.windows,
});

export const trafficStatusOf = (r: Row): TrafficStatusRecord => ({
  service: r.service,
  status: r.status,
  recordedAt: r.recorded_at,
  recordedBy: r.recorded_by,
});
