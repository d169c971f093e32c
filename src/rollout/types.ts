/**
 * The rollout domain: what a rollout is, the phases it moves through, and the events its
 * history records. Plain data, so the store can persist it and the API can show it as is.
 *
 * @module
 */

import type { Mirror, RequestMatch, Version } from "../spec/schema.js";

/**
 * Progressing: working through its steps. Paused: waiting for a person (or a timed pause).
 * Waiting: held at a gate until its hook answers 2xx or an operator opens it. Analyzing: waiting
 * for an inline analysis. Promoting: at full weight, holding before the
 * canary becomes stable. Healthy: promoted (or nothing to do). Aborted: rolled back.
 */
export type RolloutPhase =
  | "Progressing"
  | "Paused"
  | "Waiting"
  | "Analyzing"
  | "Promoting"
  | "Healthy"
  | "Aborted";

/** Phases from which nothing more happens without an operator command. */
export const TERMINAL_PHASES: ReadonlySet<RolloutPhase> = new Set(["Healthy", "Aborted"]);

/** A header route the rollout manages (added by a setHeaderRoute step, removed at the end). */
export interface ManagedRoute {
  name: string;
  match: RequestMatch;
}

/** The traffic a service should get right now: the desired state sent to the router. */
export interface TrafficState {
  stable: Version;
  canary: Version | null;
  /** Canary share, 0-100. */
  weight: number;
  /** Managed header routes to the canary, in order, ahead of the spec's own routes. */
  headerRoutes: ManagedRoute[];
  mirror: Mirror | null;
}

export interface Rollout {
  /** Unique, sortable (time-ordered) id. */
  id: string;
  service: string;
  /** The version being replaced, as it was when the rollout started. */
  stable: Version;
  /** The version under trial. */
  canary: Version;
  phase: RolloutPhase;
  /** Why the rollout is in its phase, in words (shown to operators). */
  reason: string;
  /** Index into the strategy's steps of the current step; steps.length once all are done. */
  stepIndex: number;
  /** Epoch ms when the current step started (timed pauses count from here). */
  stepStartedAt: number;
  /** Epoch ms when the rollout last started making progress (for the progress deadline). */
  progressSince: number;
  /** Set while paused by a person or a manual pause step: epoch ms it began. */
  pausedAt: number | null;
  /** The traffic state the rollout wants the router to have. */
  traffic: TrafficState;
  /** JSON of the strategy steps this rollout follows, fixed when it starts. */
  strategy: unknown;
  /** The gates it has passed, and the one point where it waits now. */
  gates: GateProgress;
  createdAt: number;
  updatedAt: number;
  /** Set once the rollout reached Healthy or Aborted. */
  finishedAt: number | null;
  /** Monotonic per rollout: each persisted transition increments it. */
  revision: number;
}

/** Where a gate can hold a rollout: before any traffic moves, before step i's weight increase, before promotion. */
export type GatePoint = "start" | `step${number}` | "promotion";

export interface GateProgress {
  /** `<gate name>@<point>` of every gate opened so far. */
  passed: string[];
  /** The gates the rollout waits for now (all must open), or null. */
  waiting: { point: GatePoint; gates: string[]; since: number } | null;
}

/** Who made a transition happen. */
export type Actor =
  | "controller"
  | "analysis"
  | "router"
  | "spec"
  | `operator:${string}`
  | `webhook:${string}`;

/** One entry of a service's append-only history. */
export interface RolloutEvent {
  /** Global, strictly increasing. */
  seq: number;
  rolloutId: string | null;
  service: string;
  at: number;
  /** e.g. rollout.started, step.started, weight.set, paused, resumed, promoted, aborted, undo. */
  type: string;
  actor: Actor;
  reason: string;
  phase: RolloutPhase | null;
  stepIndex: number | null;
  weight: number | null;
  /** Anything else worth keeping (versions, durations, verdict evidence). */
  data: Record<string, unknown>;
}

/** The service's own persisted state, independent of any rollout. */
export interface ServiceState {
  name: string;
  /** The traffic the router should apply for this service now. */
  traffic: TrafficState;
  /** The rollout currently attached (active or the last finished one), if any. */
  rolloutId: string | null;
  /** The stable version before the last promotion, for `undo`. */
  previousStable: Version | null;
  updatedAt: number;
  /** 1 when first stored, +1 on every write: a write over a stale read is refused. */
  revision: number;
}
