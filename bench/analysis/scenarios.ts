/**
 * The benchmark's grid (research §5(d)): traffic, canary weight, base error rate, and what is
 * wrong with the canary, if anything.
 *
 * @module
 */

export const INTERVAL_SEC = 10;
export const HORIZON_SEC = 3600;
export const INTERVALS = HORIZON_SEC / INTERVAL_SEC;
/** A per-interval multiplicative shock shared by both arms (Gamma, mean 1): load, a downstream blip. */
export const SHARED_SHOCK_CV = 0.3;
/** The harsh case: each arm also gets its own per-interval shock (pod heterogeneity). */
export const ARM_NOISE_CV = 0.2;
/** Latency scales with the square root of the shock (CV ≈ 15 % shared, 10 % per arm). */
export const LATENCY_SHOCK_POWER = 0.5;

export type ScenarioKind = "aa" | "errors" | "latency";

export interface Scenario {
  name: string;
  kind: ScenarioKind;
  /** Canary error rate = base × this (after the onset). */
  errorMultiplier: number;
  /** Canary latency change (after the onset). */
  latency:
    | { type: "none" }
    | { type: "median"; factor: number }
    | { type: "tail"; share: number; factor: number };
  /** When the canary turns bad, seconds from the start. */
  onsetSec: number;
  armNoiseCv: number;
  /**
   * The fleet families below are optional, so the scenarios that predate them draw exactly the
   * same numbers; their own randomness comes from a separate stream (`#fleet`).
   *
   * One bad pod among the stable arm's `pods`: while it is bad (it switches on and off, staying
   * `burstSec` on average) its requests fail `errorFactor` times as often and take
   * `latencyFactor` times as long. Each interval the balancer sends it a binomial share of the
   * stable requests. The canary runs on its own, healthy pods.
   */
  badPod?: { pods: number; errorFactor: number; latencyFactor: number; burstSec: number };
  /** The canary is cold for its first `sec` seconds: every request `latencyFactor` times slower. */
  cold?: { sec: number; latencyFactor: number };
  /** The traffic level doubles and halves: rate × 2^sin(2π t / periodSec). */
  diurnalPeriodSec?: number;
  /**
   * The canary's weight follows these steps, one per `stageSec` (the last one stays); such a
   * scenario runs only at the grid's first weight, which its cells carry in their key.
   */
  weightSteps?: { weights: number[]; stageSec: number };
}

const none = { type: "none" } as const;

/** The fleet families' parameters (see the docs' benchmark section for why these). */
const BAD_POD = { pods: 10, errorFactor: 5, latencyFactor: 2, burstSec: 120 };
const COLD = { sec: 60, latencyFactor: 2 };
const DIURNAL_SEC = 1800;
const STEPS = { weights: [0.05, 0.1, 0.25, 0.5], stageSec: 300 };

function aa(name: string, extra: Partial<Scenario>): Scenario {
  return {
    name,
    kind: "aa",
    errorMultiplier: 1,
    latency: none,
    onsetSec: 0,
    armNoiseCv: 0,
    ...extra,
  };
}

function errors(name: string, multiplier: number, extra: Partial<Scenario>): Scenario {
  return {
    name,
    kind: "errors",
    errorMultiplier: multiplier,
    latency: none,
    onsetSec: 0,
    armNoiseCv: 0,
    ...extra,
  };
}

function slower(name: string, factor: number, extra: Partial<Scenario>): Scenario {
  return {
    name,
    kind: "latency",
    errorMultiplier: 1,
    latency: { type: "median", factor },
    onsetSec: 0,
    armNoiseCv: 0,
    ...extra,
  };
}

/** The families of real fleets (issue: decisions that stay right on real fleets). */
export const FLEET_SCENARIOS: readonly Scenario[] = [
  // Beyond the seeds' "latency +50 %": the p99 doubles (where ×1.5 sits on that rule's edge).
  slower("latency ×2", 2, {}),
  aa("A/A noise 0.1", { armNoiseCv: 0.1 }),
  aa("A/A noise 0.2", { armNoiseCv: 0.2 }),
  aa("A/A noise 0.4", { armNoiseCv: 0.4 }),
  errors("errors ×2 noise 0.2", 2, { armNoiseCv: 0.2 }),
  slower("latency ×1.5 noise 0.2", 1.5, { armNoiseCv: 0.2 }),
  aa("A/A bad pod", { badPod: BAD_POD }),
  errors("errors ×2 bad pod", 2, { badPod: BAD_POD }),
  slower("latency ×1.5 bad pod", 1.5, { badPod: BAD_POD }),
  aa("A/A cold", { cold: COLD }),
  slower("latency ×1.5 cold", 1.5, { cold: COLD }),
  aa("A/A diurnal", { diurnalPeriodSec: DIURNAL_SEC }),
  errors("errors ×2 diurnal", 2, { diurnalPeriodSec: DIURNAL_SEC }),
  aa("A/A steps", { weightSteps: STEPS }),
  errors("errors ×2 steps", 2, { weightSteps: STEPS }),
  slower("latency ×1.5 @20m", 1.5, { onsetSec: 1200 }),
];

export const SCENARIOS: readonly Scenario[] = [
  { name: "A/A", kind: "aa", errorMultiplier: 1, latency: none, onsetSec: 0, armNoiseCv: 0 },
  {
    name: "A/A harsh",
    kind: "aa",
    errorMultiplier: 1,
    latency: none,
    onsetSec: 0,
    armNoiseCv: ARM_NOISE_CV,
  },
  {
    name: "errors ×1.5",
    kind: "errors",
    errorMultiplier: 1.5,
    latency: none,
    onsetSec: 0,
    armNoiseCv: 0,
  },
  {
    name: "errors ×2",
    kind: "errors",
    errorMultiplier: 2,
    latency: none,
    onsetSec: 0,
    armNoiseCv: 0,
  },
  {
    name: "errors ×5",
    kind: "errors",
    errorMultiplier: 5,
    latency: none,
    onsetSec: 0,
    armNoiseCv: 0,
  },
  {
    name: "errors ×2 @20m",
    kind: "errors",
    errorMultiplier: 2,
    latency: none,
    onsetSec: 1200,
    armNoiseCv: 0,
  },
  {
    name: "errors ×5 @20m",
    kind: "errors",
    errorMultiplier: 5,
    latency: none,
    onsetSec: 1200,
    armNoiseCv: 0,
  },
  {
    name: "latency ×1.25",
    kind: "latency",
    errorMultiplier: 1,
    latency: { type: "median", factor: 1.25 },
    onsetSec: 0,
    armNoiseCv: 0,
  },
  {
    name: "latency ×1.5",
    kind: "latency",
    errorMultiplier: 1,
    latency: { type: "median", factor: 1.5 },
    onsetSec: 0,
    armNoiseCv: 0,
  },
  {
    name: "latency tail",
    kind: "latency",
    errorMultiplier: 1,
    latency: { type: "tail", share: 0.02, factor: 3 },
    onsetSec: 0,
    armNoiseCv: 0,
  },
  ...FLEET_SCENARIOS,
];

export function scenarioNamed(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (s === undefined) throw new Error(`unknown scenario ${name}`);
  return s;
}

export interface Cell {
  rps: number;
  /** Canary share, 0–1. */
  weight: number;
  baseErrorRate: number;
  scenario: string;
}

export function cellKey(c: Cell): string {
  return `${c.rps}|${c.weight}|${c.baseErrorRate}|${c.scenario}`;
}

export interface Grid {
  rps: number[];
  weights: number[];
  baseErrorRates: number[];
  scenarios: string[];
  /** Latency scenarios only at these base error rates (the error rate hardly matters to them). */
  latencyBaseErrorRates: number[];
}

export const FULL_GRID: Grid = {
  rps: [10, 100, 1000],
  weights: [0.05, 0.25, 0.5],
  baseErrorRates: [0.001, 0.01, 0.05],
  scenarios: SCENARIOS.map((s) => s.name),
  latencyBaseErrorRates: [0.01],
};

export const QUICK_GRID: Grid = {
  rps: [10, 100, 1000],
  weights: [0.05, 0.5],
  baseErrorRates: [0.01],
  scenarios: [
    "A/A",
    "A/A harsh",
    "errors ×2",
    "errors ×5",
    "errors ×2 @20m",
    "latency ×1.5",
    "latency ×2",
    "A/A noise 0.4",
    "A/A bad pod",
    "A/A cold",
    "latency ×1.5 cold",
    "A/A diurnal",
    "A/A steps",
  ],
  latencyBaseErrorRates: [0.01],
};

export function cellsOf(grid: Grid): Cell[] {
  const cells: Cell[] = [];
  for (const scenario of grid.scenarios) {
    const { kind, weightSteps } = scenarioNamed(scenario);
    const weights = weightSteps === undefined ? grid.weights : grid.weights.slice(0, 1);
    const bases =
      kind === "latency"
        ? grid.baseErrorRates.filter((b) => grid.latencyBaseErrorRates.includes(b))
        : grid.baseErrorRates;
    for (const rps of grid.rps) {
      for (const weight of weights) {
        for (const baseErrorRate of bases) cells.push({ rps, weight, baseErrorRate, scenario });
      }
    }
  }
  return cells;
}
