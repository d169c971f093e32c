/**
 * Builders of API answers for the view logic's unit tests: a service view with a rollout in
 * any state, events, measurements and metrics, each overridable field by field.
 *
 * @module
 */

import type {
  AnalysisRun,
  MeasurementRecord,
  Rollout,
  RolloutEvent,
  ServiceMetrics,
  ServiceView,
  VersionMetrics,
} from "./api.js";
import type { Gate, Step } from "./strategy.js";
import type { Timers } from "./stream.js";

export const T0 = Date.UTC(2025, 2, 1, 12, 0, 0);

export const STEPS: Step[] = [
  { setWeight: 10 },
  { pause: { duration: "30s" } },
  { setWeight: 40 },
  { pause: {} },
  { setWeight: 100 },
];

export function gate(name: string, type: Gate["type"], hook = false): Gate {
  return {
    name,
    type,
    timeout: "10s",
    interval: "10s",
    retries: 2,
    metadata: {},
    ...(hook ? { url: "https://hooks.example/gate" } : {}),
  };
}

/** A rollout; `steps` and `strategyGates` go into its strategy. */
export function rollout(
  over: Partial<Rollout> & { steps?: Step[]; strategyGates?: Gate[] } = {},
): Rollout {
  const { steps = STEPS, strategyGates: gates = [], ...rest } = over;
  return {
    id: "r1",
    service: "shop",
    stable: { version: "v1", targets: ["http://127.0.0.1:9001"] },
    canary: { version: "v2", targets: ["http://127.0.0.1:9002"] },
    phase: "Progressing",
    reason: "step 1/5: setWeight 10%",
    stepIndex: 0,
    stepStartedAt: T0,
    progressSince: T0,
    pausedAt: null,
    traffic: {
      stable: { version: "v1", targets: ["http://127.0.0.1:9001"] },
      canary: { version: "v2", targets: ["http://127.0.0.1:9002"] },
      weight: 10,
      headerRoutes: [],
      mirror: null,
    },
    strategy: {
      steps,
      templates: {},
      backgroundAnalysis: null,
      progressDeadlineMs: 600_000,
      promotionHoldMs: 0,
      autoPromote: true,
      abortOnTargetsDown: true,
      gates,
    },
    gates: { passed: [], waiting: null },
    createdAt: T0,
    updatedAt: T0,
    finishedAt: null,
    revision: 1,
    ...rest,
  };
}

export function view(r: Rollout | null, over: Partial<ServiceView> = {}): ServiceView {
  return {
    name: "shop",
    traffic: r?.traffic ?? {
      stable: { version: "v1", targets: ["http://127.0.0.1:9001"] },
      canary: null,
      weight: 0,
      headerRoutes: [],
      mirror: null,
    },
    rolloutId: r?.id ?? null,
    previousStable: null,
    updatedAt: r?.updatedAt ?? T0,
    revision: 1,
    rollout: r,
    ...over,
  };
}

export function event(seq: number, over: Partial<RolloutEvent> = {}): RolloutEvent {
  return {
    seq,
    rolloutId: "r1",
    service: "shop",
    at: T0 + seq * 1000,
    type: "weight.set",
    actor: "controller",
    reason: "",
    phase: "Progressing",
    stepIndex: 0,
    weight: 10,
    data: {},
    ...over,
  };
}

export function measurement(seq: number, over: Partial<MeasurementRecord> = {}): MeasurementRecord {
  return {
    seq,
    runId: "r1:step2:1",
    metric: "error-rate",
    phase: "Successful",
    value: 0.01,
    evidence: {},
    message: "canary 1% vs stable 1%: +0 ≤ 1 allowed",
    startedAt: T0 + seq * 1000,
    finishedAt: T0 + seq * 1000 + 500,
    ...over,
  };
}

export function run(over: Partial<AnalysisRun> = {}): AnalysisRun {
  return {
    id: "r1:step2:1",
    rolloutId: "r1",
    service: "shop",
    kind: "inline",
    stepIndex: 2,
    phase: "Running",
    message: "",
    spec: {},
    startedAt: T0,
    finishedAt: null,
    measurements: [],
    ...over,
  };
}

export function arm(
  role: "stable" | "canary",
  version: string,
  summary: Partial<VersionMetrics["summary"]> = {},
  series: VersionMetrics["series"] = [],
): VersionMetrics {
  return {
    version,
    role,
    summary: {
      requests: 100,
      errors: 0,
      errorRate: 0,
      rps: 10,
      p50Ms: 5,
      p95Ms: 9,
      p99Ms: 12,
      ...summary,
    },
    series,
  };
}

export function metrics(versions: VersionMetrics[]): ServiceMetrics {
  return { service: "shop", from: T0 - 60_000, to: T0, step: 10_000, versions };
}

/** Timers that fire only when the test says so. */
export class ManualTimers implements Timers {
  next = 1;
  pending = new Map<number, { fn: () => void; ms: number }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { fn, ms });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  /** Delays of the pending timers, shortest first. */
  delays(): number[] {
    return [...this.pending.values()].map((t) => t.ms).sort((a, b) => a - b);
  }
  /** Fires the pending timer with this delay. */
  fire(ms: number): void {
    for (const [id, t] of this.pending) {
      if (t.ms === ms) {
        this.pending.delete(id);
        t.fn();
        return;
      }
    }
    throw new Error(`no timer of ${ms} ms (pending: ${this.delays().join(", ")})`);
  }
}
