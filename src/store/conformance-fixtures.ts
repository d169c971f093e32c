/**
 * Sample records for the store conformance suite: every nested shape and every nullable field,
 * both null and set, so a round trip that drops or mangles one shows up.
 *
 * @module
 */

import type { Rollout, RolloutEvent, ServiceState, TrafficState } from "../rollout/types.js";
import type { Version } from "../spec/schema.js";
import type {
  AnalysisRunRecord,
  MeasurementRecord,
  NewCommand,
  NewEvent,
  RouterReport,
} from "./store.js";

export const T0 = Date.UTC(2026, 0, 1);

export const V1: Version = { version: "v1.2.0", targets: ["http://127.0.0.1:9001"] };
export const V2: Version = {
  version: "v1.3.0",
  targets: ["http://127.0.0.1:9002", "https://[::1]:9443"],
};

/** Every optional part of a traffic state filled in. */
export const RICH_TRAFFIC: TrafficState = {
  stable: V1,
  canary: V2,
  weight: 12.5,
  headerRoutes: [
    { name: "beta", match: { headers: { "user-type": { exact: "beta-tester" } } } },
    {
      name: "qa",
      match: { cookies: { qa: { prefix: "on" } }, query: { canary: { regex: "^(1|yes)$" } } },
    },
  ],
  mirror: {
    percent: 5,
    match: { headers: { "x-mirror": { exact: "ok" } } },
    methods: ["GET", "HEAD"],
  },
};

export const PLAIN_TRAFFIC: TrafficState = {
  stable: V1,
  canary: null,
  weight: 0,
  headerRoutes: [],
  mirror: null,
};

export function aService(overrides: Partial<ServiceState> = {}): ServiceState {
  return {
    name: "checkout",
    traffic: PLAIN_TRAFFIC,
    rolloutId: null,
    previousStable: null,
    updatedAt: T0,
    revision: 1,
    ...overrides,
  };
}

export function aRollout(overrides: Partial<Rollout> = {}): Rollout {
  return {
    id: "r-0001",
    service: "checkout",
    stable: V1,
    canary: V2,
    phase: "Progressing",
    reason: "step 1 of 4: setWeight 5 — “quoted” ünïcödé",
    stepIndex: 0,
    stepStartedAt: T0,
    progressSince: T0,
    pausedAt: null,
    traffic: RICH_TRAFFIC,
    strategy: {
      steps: [
        { setWeight: 5 },
        { pause: { duration: 120_000 } },
        { pause: {} },
        { setWeight: 100 },
      ],
      analysis: { templates: ["golden-signals"], startingStep: 1, args: null },
    },
    gates: {
      passed: ["change-board@start"],
      waiting: { point: "step2", gates: ["load-check"], since: T0 },
    },
    createdAt: T0,
    updatedAt: T0,
    finishedAt: null,
    revision: 1,
    ...overrides,
  };
}

export function anEvent(overrides: Partial<NewEvent> = {}): NewEvent {
  return {
    rolloutId: "r-0001",
    service: "checkout",
    at: T0,
    type: "weight.set",
    actor: "controller",
    reason: "step 1: weight 5 %",
    phase: "Progressing",
    stepIndex: 0,
    weight: 5,
    data: { from: 0, to: 5, nested: { list: [1, "two", null, { three: true }] }, none: null },
    ...overrides,
  };
}

/** An event with every nullable field null. */
export function aServiceEvent(overrides: Partial<NewEvent> = {}): NewEvent {
  return anEvent({
    rolloutId: null,
    type: "service.added",
    actor: "operator:alice",
    phase: null,
    stepIndex: null,
    weight: null,
    data: {},
    ...overrides,
  });
}

export function aRun(overrides: Partial<AnalysisRunRecord> = {}): AnalysisRunRecord {
  return {
    id: "run-0001",
    rolloutId: "r-0001",
    service: "checkout",
    kind: "inline",
    stepIndex: 2,
    phase: "Running",
    message: "",
    spec: {
      templates: [
        {
          name: "golden-signals",
          metrics: [
            { name: "error-rate", interval: 10_000, judge: { relative: { maxIncrease: 0.02 } } },
          ],
        },
      ],
    },
    startedAt: T0,
    finishedAt: null,
    ...overrides,
  };
}

export function aMeasurement(
  overrides: Partial<Omit<MeasurementRecord, "seq">> = {},
): Omit<MeasurementRecord, "seq"> {
  return {
    runId: "run-0001",
    metric: "error-rate",
    phase: "Successful",
    value: 0.0125,
    evidence: { effect: 0.003, bound: 0.02, pValue: 0.41, samples: { stable: 1200, canary: 61 } },
    message: "canary error rate 1.25 % is within 2 points of stable's 0.95 %",
    startedAt: T0,
    finishedAt: T0 + 1_000,
    ...overrides,
  };
}

/** The event as the store should return it. */
export function withSeq(event: NewEvent, seq: number): RolloutEvent {
  return { seq, ...event };
}

/** A spec as JSON, with the nesting and nulls a real one has. */
export const SPEC = {
  services: [{ name: "checkout", stable: V1, strategy: { steps: [{ setWeight: 5 }] } }],
  notify: null,
};

export function aCommand(overrides: Partial<NewCommand> = {}): NewCommand {
  return {
    id: "c-0",
    kind: "deploy",
    service: "checkout",
    args: { version: V2, note: "“quoted” ünïcödé", none: null },
    actor: { kind: "token", name: "ci" },
    createdAt: T0,
    ...overrides,
  };
}

export function aReport(overrides: Partial<RouterReport> = {}): RouterReport {
  return {
    router: "router-a",
    at: T0,
    served: { checkout: { revision: 3, weight: 12.5 }, search: { revision: 1, weight: 0 } },
    windows: { checkout: { stable: { n: 1200, errors: 3 }, canary: { n: 61, errors: 0 } } },
    ...overrides,
  };
}
