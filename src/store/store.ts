/**
 * What the control plane keeps, behind one small interface so SQLite (the default) and a
 * later Postgres implementation pass the same conformance suite (`conformance.ts`).
 *
 * Writes that belong together go through {@link Store.transaction}: a transition is the
 * rollout's new state plus its history event, committed together or not at all.
 *
 * @module
 */

import type { Rollout, RolloutEvent, ServiceState } from "../rollout/types.js";

export type NewEvent = Omit<RolloutEvent, "seq">;

/** Operations available inside a transaction (and outside, each as its own transaction). */
export interface StoreTx {
  getService(name: string): ServiceState | undefined;
  listServices(): ServiceState[];
  putService(state: ServiceState): void;
  /**
   * Forgets a service's current state (it left the spec). Its rollouts, history, versions and
   * analyses stay, keyed by its name; putting the service again starts it afresh.
   */
  deleteService(name: string): void;

  getRollout(id: string): Rollout | undefined;
  /** Inserts or replaces by id. Refuses (throws StaleWriteError) if the stored revision is not `rollout.revision - 1`. */
  putRollout(rollout: Rollout): void;
  /** Rollouts not in a terminal phase, oldest first. */
  activeRollouts(): Rollout[];
  /** Rollouts of a service, newest first, at most `limit`. */
  rolloutsOf(service: string, limit?: number): Rollout[];

  /** Appends to the history; returns the event with its sequence number. */
  appendEvent(event: NewEvent): RolloutEvent;
  /** A service's history, oldest first; `afterSeq` for paging or tailing. */
  eventsOf(service: string, opts?: { afterSeq?: number; limit?: number }): RolloutEvent[];
  /** Every event after `afterSeq`, oldest first (for event streams). */
  eventsAfter(afterSeq: number, limit?: number): RolloutEvent[];

  /** Records that a version was deployed (insert, or update lastSeenAt and targets). */
  recordVersion(service: string, version: string, targets: string[], at: number): void;
  versionsOf(service: string): VersionRecord[];

  putAnalysisRun(run: AnalysisRunRecord): void;
  getAnalysisRun(id: string): AnalysisRunRecord | undefined;
  analysisRunsOf(rolloutId: string): AnalysisRunRecord[];
  appendMeasurement(m: Omit<MeasurementRecord, "seq">): MeasurementRecord;
  /** A run's measurements, oldest first. */
  measurementsOf(runId: string, opts?: { metric?: string; limit?: number }): MeasurementRecord[];
}

export interface Store extends StoreTx {
  /** Runs fn atomically: all its writes commit, or none do (fn's exception is rethrown). */
  transaction<T>(fn: (tx: StoreTx) => T): T;
  close(): void;
}

/** A version as the store remembers it: first and last time it was deployed. */
export interface VersionRecord {
  service: string;
  version: string;
  targets: string[];
  firstSeenAt: number;
  lastSeenAt: number;
}

/** An analysis run (filled in by the analysis engine). */
export interface AnalysisRunRecord {
  id: string;
  rolloutId: string;
  service: string;
  /** inline: a step waits for it; background: runs alongside the steps. */
  kind: "inline" | "background";
  stepIndex: number | null;
  phase: "Running" | "Successful" | "Failed" | "Error" | "Inconclusive";
  message: string;
  /** The resolved templates the run measures with. */
  spec: unknown;
  startedAt: number;
  finishedAt: number | null;
}

/** One measurement of one metric in a run, with the evidence behind its verdict. */
export interface MeasurementRecord {
  /** Assigned by the store, strictly increasing. */
  seq: number;
  runId: string;
  metric: string;
  phase: "Successful" | "Failed" | "Inconclusive" | "Error";
  value: number | null;
  /** Effect, bounds, p-value or e-value, sample sizes... */
  evidence: Record<string, unknown>;
  /** A sentence that explains the verdict. */
  message: string;
  startedAt: number;
  finishedAt: number;
}
