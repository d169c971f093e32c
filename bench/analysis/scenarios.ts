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
}

const none = { type: "none" } as const;

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
  scenarios: ["A/A", "A/A harsh", "errors ×2", "errors ×5", "errors ×2 @20m", "latency ×1.5"],
  latencyBaseErrorRates: [0.01],
};

export function cellsOf(grid: Grid): Cell[] {
  const cells: Cell[] = [];
  for (const scenario of grid.scenarios) {
    const kind = scenarioNamed(scenario).kind;
    const bases =
      kind === "latency"
        ? grid.baseErrorRates.filter((b) => grid.latencyBaseErrorRates.includes(b))
        : grid.baseErrorRates;
    for (const rps of grid.rps) {
      for (const weight of grid.weights) {
        for (const baseErrorRate of bases) cells.push({ rps, weight, baseErrorRate, scenario });
      }
    }
  }
  return cells;
}
