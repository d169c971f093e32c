/**
 * Kayenta's WeightedSumScorer and ThresholdScoreClassifier: metric labels → group scores →
 * one summary score out of 100 → Pass, Marginal or Fail.
 *
 * - Muted metrics are left out first (still reported by the caller).
 * - Group score = 100 · Pass / (Pass + High + Low + NodataFailMetric); Nodata and Error are not
 *   counted. A group with nothing counted is marked `noData` and scores 100.
 * - Summary = Σ score_g · weight_g / 100, rounded to 2 decimals. Weights come from the canary
 *   config's `classifier.groupWeights`; groups without one share what is left of 100 equally
 *   (never below 0). A metric in several groups counts in each.
 * - Overrides (score 0): any critical result that is not Pass; or at least 50 % of the
 *   metrics Nodata.
 * - Classification. Kayenta's classifier calls score == marginal "Marginal" while its
 *   standalone monitor fails a run at score ≤ marginal. We pick one rule, the monitor's:
 *   score ≥ pass → Pass; marginal < score < pass → Marginal; score ≤ marginal → Fail.
 *   (Pass is checked first, so pass == marginal still passes at that score.)
 *
 * @module
 */

import type { MetricLabel } from "./classify.js";

export interface ScoredMetric {
  name: string;
  groups: readonly string[];
  label: MetricLabel;
  /** The classifier marked this result a critical failure. */
  critical: boolean;
  muted?: boolean;
}

export interface ScoreThresholds {
  pass: number;
  marginal: number;
}

export type ScoreClassification = "Pass" | "Marginal" | "Fail";

export interface GroupScore {
  name: string;
  score: number;
  /** No metric of the group was counted (all Nodata or Error); scored 100. */
  noData: boolean;
  weight: number;
  counts: Record<MetricLabel, number>;
}

export interface ScoreResult {
  /** The summary score after overrides, 0–100, 2 decimals. */
  score: number;
  /** The weighted sum before overrides, 2 decimals. */
  weightedScore: number;
  classification: ScoreClassification;
  reason: string;
  groups: GroupScore[];
  /** Critical results that were not Pass. */
  criticalFailures: string[];
  /** Nodata metrics among the scored (unmuted) ones. */
  nodata: string[];
  /** Unmuted metrics scored. */
  scored: number;
}

export const NODATA_THRESHOLD = 50;

function round2(v: number): number {
  return Math.round((v + Number.EPSILON) * 100) / 100;
}

function emptyCounts(): Record<MetricLabel, number> {
  return { Pass: 0, High: 0, Low: 0, Nodata: 0, NodataFailMetric: 0, Error: 0 };
}

/** Group weights as Kayenta applies them: given ones as is, the rest share what is left. */
export function resolveWeights(
  groups: readonly string[],
  given: Readonly<Record<string, number>>,
): Map<string, number> {
  const givenSum = Object.values(given).reduce((s, w) => s + w, 0);
  const unweighted = groups.filter((g) => !Object.hasOwn(given, g));
  const share = unweighted.length > 0 ? Math.max(0, 100 - givenSum) / unweighted.length : 0;
  return new Map(groups.map((g) => [g, Object.hasOwn(given, g) ? (given[g] as number) : share]));
}

export function classifyScore(score: number, thresholds: ScoreThresholds): ScoreClassification {
  if (score >= thresholds.pass) return "Pass";
  if (score > thresholds.marginal) return "Marginal";
  return "Fail";
}

export function scoreMetrics(
  metrics: readonly ScoredMetric[],
  groupWeights: Readonly<Record<string, number>>,
  thresholds: ScoreThresholds,
): ScoreResult {
  const scored = metrics.filter((m) => m.muted !== true);

  const byGroup = new Map<string, Record<MetricLabel, number>>();
  for (const m of scored) {
    for (const g of new Set(m.groups)) {
      const counts = byGroup.get(g) ?? emptyCounts();
      counts[m.label]++;
      byGroup.set(g, counts);
    }
  }
  const names = [...byGroup.keys()];
  const weights = resolveWeights(names, groupWeights);
  const groups: GroupScore[] = names.map((name) => {
    const c = byGroup.get(name) as Record<MetricLabel, number>;
    const counted = c.Pass + c.High + c.Low + c.NodataFailMetric;
    const noData = counted === 0;
    return {
      name,
      score: noData ? 100 : (100 * c.Pass) / counted,
      noData,
      weight: weights.get(name) as number,
      counts: c,
    };
  });
  const weightedScore = round2(groups.reduce((s, g) => s + (g.score * g.weight) / 100, 0));

  const criticalFailures = scored
    .filter((m) => m.critical && m.label !== "Pass")
    .map((m) => m.name);
  const nodata = scored.filter((m) => m.label === "Nodata").map((m) => m.name);
  const nodataPct = scored.length === 0 ? 0 : (100 * nodata.length) / scored.length;

  let score = weightedScore;
  let reason: string;
  if (criticalFailures.length > 0) {
    score = 0;
    const labels = criticalFailures.map((n) => `${n} (${scored.find((m) => m.name === n)?.label})`);
    reason = `Canary Failed: critical metric${criticalFailures.length > 1 ? "s" : ""} ${labels.join(", ")}`;
  } else if (scored.length > 0 && nodataPct >= NODATA_THRESHOLD) {
    score = 0;
    reason = `Canary Failed: ${nodata.length} of ${scored.length} metrics had no data (≥ ${NODATA_THRESHOLD} %)`;
  } else if (scored.length === 0) {
    score = 0;
    reason = "no unmuted metrics to score";
  } else {
    reason = `score ${score} (pass ≥ ${thresholds.pass}, marginal > ${thresholds.marginal})`;
  }
  const classification = classifyScore(score, thresholds);
  return {
    score,
    weightedScore,
    classification,
    reason,
    groups,
    criticalFailures,
    nodata,
    scored: scored.length,
  };
}
