/**
 * What the control plane keeps, behind one interface that SQLite (the default, zero set-up) and
 * Postgres (several instances, `docs/high-availability.md`) implement and prove with the same
 * conformance suite (`conformance.ts`).
 *
 * Every method is asynchronous: Postgres answers over a socket. Writes that belong together go
 * through {@link Store.transaction}: a transition is the rollout's new state, the service's
 * traffic and the history event, committed together or not at all.
 *
 * Writes that can race carry a revision: a rollout or a service is written only over the
 * revision it was read at (`StaleWriteError` otherwise). Writes of a leader also carry its
 * fence ({@link Store.fenced}): the database refuses them once another instance holds the lease.
 *
 * @module
 */

import type { Rollout, RolloutEvent, ServiceState } from "../rollout/types.js";

export type NewEvent = Omit<RolloutEvent, "seq">;

/** Operations available inside a transaction (and outside, each as its own transaction). */
export interface StoreTx {
  getService(name: string): Promise<ServiceState | undefined>;
  listServices(): Promise<ServiceState[]>;
  /**
   * Inserts or replaces by name. Refuses (StaleWriteError) unless `state.revision` is the stored
   * revision + 1, or 1 for a service not stored.
   */
  putService(state: ServiceState): Promise<void>;
  /**
   * Forgets a service's current state (it left the spec). Its rollouts, history, versions and
   * analyses stay, keyed by its name; putting the service again starts it afresh (revision 1).
   */
  deleteService(name: string): Promise<void>;

  getRollout(id: string): Promise<Rollout | undefined>;
  /** Inserts or replaces by id. Refuses (StaleWriteError) if the stored revision is not `rollout.revision - 1`. */
  putRollout(rollout: Rollout): Promise<void>;
  /** Rollouts not in a terminal phase, oldest first. */
  activeRollouts(): Promise<Rollout[]>;
  /** Rollouts of a service, newest first, at most `limit`. */
  rolloutsOf(service: string, limit?: number): Promise<Rollout[]>;

  /**
   * Appends to the history; returns the event with its sequence number. Sequence numbers are
   * strictly increasing in commit order (events are appended only by fenced or single-writer
   * transactions, which the store serialises), so a reader tailing `eventsAfter` misses none.
   */
  appendEvent(event: NewEvent): Promise<RolloutEvent>;
  /** A service's history, oldest first; `afterSeq` for paging or tailing. */
  eventsOf(service: string, opts?: { afterSeq?: number; limit?: number }): Promise<RolloutEvent[]>;
  /** Every event after `afterSeq`, oldest first (for event streams). */
  eventsAfter(afterSeq: number, limit?: number): Promise<RolloutEvent[]>;

  /** Records that a version was deployed (insert, or update lastSeenAt and targets). */
  recordVersion(service: string, version: string, targets: string[], at: number): Promise<void>;
  versionsOf(service: string): Promise<VersionRecord[]>;

  putAnalysisRun(run: AnalysisRunRecord): Promise<void>;
  getAnalysisRun(id: string): Promise<AnalysisRunRecord | undefined>;
  analysisRunsOf(rolloutId: string): Promise<AnalysisRunRecord[]>;
  appendMeasurement(m: Omit<MeasurementRecord, "seq">): Promise<MeasurementRecord>;
  /** A run's measurements, oldest first. */
  measurementsOf(
    runId: string,
    opts?: { metric?: string; limit?: number },
  ): Promise<MeasurementRecord[]>;
  /** Every measurement after `afterSeq`, oldest first (event streams on every instance). */
  measurementsAfter(afterSeq: number, limit?: number): Promise<MeasurementRecord[]>;

  /** The spec the control plane runs, with its revision; undefined before the first. */
  getAppliedSpec(): Promise<AppliedSpec | undefined>;
  /** Replaces the applied spec. Refuses (StaleWriteError) unless `spec.revision` is the stored revision + 1 (1 for the first). */
  putAppliedSpec(spec: AppliedSpec): Promise<void>;

  /** Stores an operator command for the leader to carry out (any instance may call it). */
  putCommand(command: NewCommand): Promise<CommandRecord>;
  getCommand(id: string): Promise<CommandRecord | undefined>;
  /** Commands not yet done, oldest first. */
  pendingCommands(limit?: number): Promise<CommandRecord[]>;
  /** Records a command's outcome; a command already done is left as it is (returns false). */
  finishCommand(id: string, outcome: CommandOutcome, at: number): Promise<boolean>;
  /**
   * Marks a stored command as committed, inside the transaction that carries it out (the
   * leader's transition, an undo, a spec), so the mark and what the command wrote commit
   * together or not at all. Refuses (CommandCommitError) a command that is not stored or is
   * already marked: the transaction rolls back, so no leader can write a command's effect twice.
   */
  recordCommandCommit(id: string, commit: CommandCommit): Promise<void>;

  /** Upserts what one router last reported (by `router`). */
  putRouterReport(report: RouterReport): Promise<void>;
  /** Every router's last report, by router id. */
  routerReports(): Promise<RouterReport[]>;
  /** Forgets a router (it was retired by an operator). */
  deleteRouterReport(router: string): Promise<void>;

  /** Upserts what one instance's tracking endpoint last counted (by `instance`). */
  putTrackingReport(report: TrackingReport): Promise<void>;
  /** Every instance's last tracking report, by instance. */
  trackingReports(): Promise<TrackingReport[]>;
  /** Forgets the reports made before `at` (ms): what they hold has left every window. */
  deleteTrackingReportsBefore(at: number): Promise<number>;

  /**
   * The last event seq whose notifications the leader has finished with (delivered, refused or
   * given up), so the next leader sends what came after; undefined before any leader set one.
   */
  getNotifyCursor(): Promise<number | undefined>;
  /** Moves the cursor to `seq`; never back (a lower seq leaves it where it is). Leader only: fence it. */
  putNotifyCursor(seq: number, at: number): Promise<void>;

  /** What the leader last recorded of a service's data plane, for followers to show. */
  getTrafficStatus(service: string): Promise<TrafficStatusRecord | undefined>;
  /** Upserts a service's status by name. Leader only: fence it. */
  putTrafficStatus(record: TrafficStatusRecord): Promise<void>;
  /** Forgets a service's status (the leader no longer holds the service). */
  deleteTrafficStatus(service: string): Promise<void>;
}

export interface Store extends StoreTx {
  /** Runs fn atomically: all its writes commit, or none do (fn's rejection is rethrown). */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;

  /**
   * Takes or renews the lease `name` for `holder` for `ttlMs`, measured by the database's clock.
   * Renewing keeps the epoch; taking a lease that expired (or was released, or never held)
   * increments it. Returns the lease held, or undefined if another holder's lease is still valid.
   */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | undefined>;
  /** Gives the lease up at once if `holder` holds it with `epoch` (a clean shutdown). */
  releaseLease(name: string, holder: string, epoch: number): Promise<void>;
  /** The lease as stored (the holder may have expired). */
  readLease(name: string): Promise<Lease | undefined>;

  /**
   * The same store, but every transaction and every write outside one first checks, inside the
   * transaction and in SQL, that `fence.holder` still holds the lease `fence.lease` with
   * `fence.epoch` and that it has not expired; otherwise the transaction is rolled back and
   * FencedError is thrown. The check locks the lease row, so a takeover waits for a fenced
   * transaction in flight, and a fenced transaction that starts after a takeover is refused.
   */
  fenced(fence: Fence): Store;

  /**
   * Calls `fn` soon after another instance commits something a reader may care about (events,
   * measurements, commands, services, the spec, router reports). A wake-up carries no data:
   * read the store. Postgres: LISTEN/NOTIFY; SQLite: a poll of the data version. Returns the
   * unsubscribe function.
   */
  onChange(fn: (what: ChangeKind) => void): () => void;

  close(): Promise<void>;
}

export type ChangeKind = "events" | "commands" | "state" | "reports";

export interface Fence {
  lease: string;
  holder: string;
  epoch: number;
}

export interface Lease {
  name: string;
  holder: string;
  /** Incremented each time the lease changes hands (or is re-taken after expiry). */
  epoch: number;
  /** Database-clock milliseconds since the epoch. */
  expiresAt: number;
  /** Database-clock now, when this was read: `expiresAt - now` is the time left. */
  now: number;
}

/** The spec the control plane applies, kept so every instance and a new leader run the same. */
export interface AppliedSpec {
  revision: number;
  /** The parsed, validated spec (JSON). */
  spec: unknown;
  /** Where it came from (a file path as given, `api`). */
  source: string;
  appliedAt: number;
}

export type CommandKind =
  | "deploy"
  | "promote"
  | "pause"
  | "resume"
  | "abort"
  | "gate"
  | "retry"
  | "undo"
  | "apply";

export interface NewCommand {
  id: string;
  kind: CommandKind;
  /** The service it is for; null for `apply`. */
  service: string | null;
  /** The command's arguments (JSON). */
  args: Record<string, unknown>;
  /** Who asked (the API's actor). */
  actor: unknown;
  createdAt: number;
}

export type CommandOutcome =
  | { ok: true; result: unknown }
  | { ok: false; error: { code: string; message: string; status: number; details?: unknown } };

/**
 * What a stored command's own transaction wrote, kept with the command: a leader that finds a
 * pending command with it (the previous leader committed and died before recording the
 * outcome) answers from it instead of carrying the command out again.
 */
export interface CommandCommit {
  /** The leader's time of the commit (ms). */
  at: number;
  /** What the answer is built from: the rollout it moved, the service it wrote, a spec's changes (JSON). */
  data: Record<string, unknown>;
}

export interface CommandRecord extends NewCommand {
  doneAt: number | null;
  outcome: CommandOutcome | null;
  /** Set in the transaction that carried the command out; null while nothing of it is committed. */
  committed: CommandCommit | null;
}

/** What one router (`aviary router`) last told the control plane. */
export interface RouterReport {
  router: string;
  /** Database-clock or control-plane time of the report (ms). */
  at: number;
  /** Per service: the revision of the traffic state it serves. */
  served: Record<string, { revision: number; weight: number }>;
  /** Serialised per-version metric windows (mergeable). */
  windows: unknown;
}

/** What one instance's tracking endpoint counted lately (see `src/tracking/shared.ts`). */
export interface TrackingReport {
  instance: string;
  /** The instance's time of the report (ms). */
  at: number;
  /** Serialised per-variant seconds (mergeable). */
  windows: unknown;
}

/**
 * Whether a service's recorded traffic is what its engine serves, as the leader's convergence
 * loop last said (see `TrafficStatus` in `rollout/convergence.ts`).
 */
export interface TrafficStatusRecord {
  service: string;
  /** The status as the leader shows it (JSON). */
  status: Record<string, unknown>;
  /** The leader's time when it recorded this status (ms). */
  recordedAt: number;
  /** The instance that recorded it. */
  recordedBy: string;
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
