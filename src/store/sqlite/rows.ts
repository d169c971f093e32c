/**
 * Records to SQLite parameters and rows back to records. Nested data is JSON text; reading it
 * back parses it, so a record read from the store never shares objects with the caller's.
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
  CommandKind,
  CommandRecord,
  MeasurementRecord,
  NewEvent,
  RouterReport,
  TrackingReport,
  TrafficStatusRecord,
  VersionRecord,
} from "../store.js";

/**
 * JSON text of a value. `undefined` (JSON has none) is stored as null rather than refused, so a
 * transition never fails on an absent optional blob. NaN and Infinity become null, as in JSON.
 */
export function json(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

function parse<T>(text: string): T {
  return JSON.parse(text) as T;
}

export interface ServiceRow {
  name: string;
  traffic: string;
  rollout_id: string | null;
  previous_stable: string | null;
  updated_at: number;
  revision: number;
}

export function serviceParams(s: ServiceState): ServiceRow {
  return {
    name: s.name,
    traffic: json(s.traffic),
    rollout_id: s.rolloutId,
    previous_stable: s.previousStable === null ? null : json(s.previousStable),
    updated_at: s.updatedAt,
    revision: s.revision,
  };
}

export function serviceOf(row: ServiceRow): ServiceState {
  return {
    name: row.name,
    traffic: parse(row.traffic),
    rolloutId: row.rollout_id,
    previousStable: row.previous_stable === null ? null : parse(row.previous_stable),
    updatedAt: row.updated_at,
    revision: row.revision,
  };
}

export interface RolloutRow {
  id: string;
  service: string;
  stable: string;
  canary: string;
  phase: string;
  reason: string;
  step_index: number;
  step_started_at: number;
  progress_since: number;
  paused_at: number | null;
  traffic: string;
  strategy: string;
  gates: string;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  revision: number;
}

export function rolloutParams(r: Rollout): RolloutRow {
  return {
    id: r.id,
    service: r.service,
    stable: json(r.stable),
    canary: json(r.canary),
    phase: r.phase,
    reason: r.reason,
    step_index: r.stepIndex,
    step_started_at: r.stepStartedAt,
    progress_since: r.progressSince,
    paused_at: r.pausedAt,
    traffic: json(r.traffic),
    strategy: json(r.strategy),
    gates: json(r.gates),
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    finished_at: r.finishedAt,
    revision: r.revision,
  };
}

export function rolloutOf(row: RolloutRow): Rollout {
  return {
    id: row.id,
    service: row.service,
    stable: parse(row.stable),
    canary: parse(row.canary),
    phase: row.phase as RolloutPhase,
    reason: row.reason,
    stepIndex: row.step_index,
    stepStartedAt: row.step_started_at,
    progressSince: row.progress_since,
    pausedAt: row.paused_at,
    traffic: parse(row.traffic),
    strategy: parse(row.strategy),
    gates: parse(row.gates),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
    revision: row.revision,
  };
}

export interface EventRow {
  seq: number;
  rollout_id: string | null;
  service: string;
  at: number;
  type: string;
  actor: string;
  reason: string;
  phase: string | null;
  step_index: number | null;
  weight: number | null;
  data: string;
}

export function eventParams(e: NewEvent): Omit<EventRow, "seq"> {
  return {
    rollout_id: e.rolloutId,
    service: e.service,
    at: e.at,
    type: e.type,
    actor: e.actor,
    reason: e.reason,
    phase: e.phase,
    step_index: e.stepIndex,
    weight: e.weight,
    data: json(e.data),
  };
}

export function eventOf(row: EventRow): RolloutEvent {
  return {
    seq: row.seq,
    rolloutId: row.rollout_id,
    service: row.service,
    at: row.at,
    type: row.type,
    actor: row.actor as Actor,
    reason: row.reason,
    phase: row.phase as RolloutPhase | null,
    stepIndex: row.step_index,
    weight: row.weight,
    data: parse(row.data),
  };
}

export interface VersionRow {
  service: string;
  version: string;
  targets: string;
  first_seen_at: number;
  last_seen_at: number;
}

export function versionOf(row: VersionRow): VersionRecord {
  return {
    service: row.service,
    version: row.version,
    targets: parse(row.targets),
    firstSeenAt: row.first_seen_at,
    lastSeenAt: row.last_seen_at,
  };
}

export interface AnalysisRunRow {
  id: string;
  rollout_id: string;
  service: string;
  kind: string;
  step_index: number | null;
  phase: string;
  message: string;
  spec: string;
  started_at: number;
  finished_at: number | null;
}

export function analysisRunParams(r: AnalysisRunRecord): AnalysisRunRow {
  return {
    id: r.id,
    rollout_id: r.rolloutId,
    service: r.service,
    kind: r.kind,
    step_index: r.stepIndex,
    phase: r.phase,
    message: r.message,
    spec: json(r.spec),
    started_at: r.startedAt,
    finished_at: r.finishedAt,
  };
}

export function analysisRunOf(row: AnalysisRunRow): AnalysisRunRecord {
  return {
    id: row.id,
    rolloutId: row.rollout_id,
    service: row.service,
    kind: row.kind as AnalysisRunRecord["kind"],
    stepIndex: row.step_index,
    phase: row.phase as AnalysisRunRecord["phase"],
    message: row.message,
    spec: parse(row.spec),
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export interface MeasurementRow {
  seq: number;
  run_id: string;
  metric: string;
  phase: string;
  value: number | null;
  evidence: string;
  message: string;
  started_at: number;
  finished_at: number;
}

export function measurementParams(m: Omit<MeasurementRecord, "seq">): Omit<MeasurementRow, "seq"> {
  return {
    run_id: m.runId,
    metric: m.metric,
    phase: m.phase,
    value: m.value,
    evidence: json(m.evidence),
    message: m.message,
    started_at: m.startedAt,
    finished_at: m.finishedAt,
  };
}

export function measurementOf(row: MeasurementRow): MeasurementRecord {
  return {
    seq: row.seq,
    runId: row.run_id,
    metric: row.metric,
    phase: row.phase as MeasurementRecord["phase"],
    value: row.value,
    evidence: parse(row.evidence),
    message: row.message,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export interface AppliedSpecRow {
  revision: number;
  spec: string;
  source: string;
  applied_at: number;
}

export function appliedSpecOf(row: AppliedSpecRow): AppliedSpec {
  return {
    revision: row.revision,
    spec: parse(row.spec),
    source: row.source,
    appliedAt: row.applied_at,
  };
}

export interface CommandRow {
  id: string;
  kind: string;
  service: string | null;
  args: string;
  actor: string;
  created_at: number;
  done_at: number | null;
  outcome: string | null;
  committed_at: number | null;
  committed: string | null;
}

export function commandOf(row: CommandRow): CommandRecord {
  return {
    id: row.id,
    kind: row.kind as CommandKind,
    service: row.service,
    args: parse(row.args),
    actor: parse(row.actor),
    createdAt: row.created_at,
    doneAt: row.done_at,
    outcome: row.outcome === null ? null : parse(row.outcome),
    committed:
      row.committed_at === null
        ? null
        : { at: row.committed_at, data: parse(row.committed ?? "{}") },
  };
}

export interface RouterReportRow {
  router: string;
  at: number;
  served: string;
  windows: string;
}

export function routerReportOf(row: RouterReportRow): RouterReport {
  return {
    router: row.router,
    at: row.at,
    served: parse(row.served),
    windows: parse(row.windows),
  };
}

export interface TrackingReportRow {
  instance: string;
  at: number;
  windows: string;
}

export function trackingReportOf(row: TrackingReportRow): TrackingReport {
  return { instance: row.instance, at: row.at, windows: parse(row.windows) };
}

export interface TrafficStatusRow {
  service: string;
  status: string;
  recorded_at: number;
  recorded_by: string;
}

export function trafficStatusOf(row: TrafficStatusRow): TrafficStatusRecord {
  return {
    service: row.service,
    status: parse(row.status),
    recordedAt: row.recorded_at,
    recordedBy: row.recorded_by,
  };
}
