/**
 * The Mann-Whitney judge: Kayenta's NetflixACAJudge classification of the canary's per-step
 * series against the stable baseline's, over the whole run so far (a cumulative window, so each
 * measurement re-judges all the data; repeated looks are not error-controlled, which is why this
 * is the Kayenta-compatible confirmation and not the fast path).
 *
 * Label → phase: Pass → Successful; High or Low (only ever in a direction that fails) → Failed;
 * Nodata → Inconclusive; NodataFailMetric → Failed; Error → Error, except when the points are
 * too few for the statistic to have any variance (one per side, say: too early to compare, so
 * Inconclusive). Stateless.
 *
 * @module
 */

import {
  classifyMetric,
  fmt,
  type MannWhitneyConfig,
  type MetricClassification,
} from "../kayenta/classify.js";
import type { Judge, MeasurementPhase, Observation, Verdict } from "../types.js";

export type { MannWhitneyConfig } from "../kayenta/classify.js";

function phaseOf(c: MetricClassification): MeasurementPhase {
  switch (c.label) {
    case "Pass":
      return "Successful";
    case "High":
    case "Low":
    case "NodataFailMetric":
      return "Failed";
    case "Nodata":
      return "Inconclusive";
    case "Error":
      return c.code === "TOO_FEW_POINTS" ? "Inconclusive" : "Error";
  }
}

function finiteOrNull(v: number | null | undefined): number | null {
  return v === null || v === undefined || !Number.isFinite(v) ? null : v;
}

function evidenceOf(c: MetricClassification): Record<string, unknown> {
  const t = c.test;
  return {
    label: c.label,
    critical: c.critical,
    code: c.code,
    reason: c.reason,
    direction: c.direction,
    estimate: finiteOrNull(t?.estimate),
    lower: finiteOrNull(t?.lower),
    upper: finiteOrNull(t?.upper),
    confidence: t?.confidence ?? null,
    tolerance: finiteOrNull(t?.tolerance),
    pValue: finiteOrNull(t?.pValue),
    measure: c.measure,
    ratio: finiteOrNull(c.ratio),
    noise: c.noise,
    canary: c.experiment,
    stable: c.control,
  };
}

function messageOf(c: MetricClassification): string {
  const arrow = `→ ${c.label}`;
  const e = c.experiment;
  const s = c.control;
  if (c.test !== undefined) {
    return (
      `canary series median ${fmt(e.median)} vs stable ${fmt(s.median)} (n ${e.n} vs ${s.n}): ` +
      `HL shift ${fmt(c.test.estimate, true)}, ${c.reason} ${arrow}`
    );
  }
  if (c.code === "NO_DATA" || c.code === "MISSING_TREATED_AS_ZERO") {
    return `${c.reason} (canary ${e.n} of ${e.raw} points usable, stable ${s.n} of ${s.raw}) ${arrow}`;
  }
  if (c.code === "TOO_FEW_POINTS") {
    return `too few distinct points to compare yet (canary n ${e.n}, stable n ${s.n}): ${c.reason} → Inconclusive`;
  }
  return `${c.reason} (canary n ${e.n}, stable n ${s.n}) ${arrow}`;
}

/** What the provider gave for one arm as a series; a provider without series is a configuration problem. */
function seriesOf(arm: Observation["canary"] | undefined): number[] | string {
  if (arm === undefined)
    return "the provider gave no stable baseline (for prometheus, set stableQuery)";
  if (arm.series !== undefined) return arm.series;
  if (arm.value === null) return [];
  return "the provider gave one value, not a per-step series (for prometheus, set step)";
}

export function createMannWhitneyJudge(config: MannWhitneyConfig): Judge {
  return {
    type: "mannWhitney",
    window: "cumulative",
    slowEdgesMs: [],
    judge(obs: Observation): Verdict {
      const canary = seriesOf(obs.canary);
      const stable = seriesOf(obs.stable);
      const problem =
        typeof canary === "string" ? canary : typeof stable === "string" ? stable : undefined;
      if (problem !== undefined || typeof canary === "string" || typeof stable === "string") {
        return {
          phase: "Error",
          value: null,
          message: `mannWhitney judge: ${problem}`,
          evidence: { code: "AVIARY_MANN_WHITNEY_NEEDS_SERIES" },
        };
      }
      const c = classifyMetric(canary, stable, config);
      return {
        phase: phaseOf(c),
        value: finiteOrNull(c.test?.estimate),
        message: messageOf(c),
        evidence: evidenceOf(c),
      };
    },
    state: () => null,
    restore: () => {},
  };
}
