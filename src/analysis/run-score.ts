/**
 * One verdict for a scored template, Kayenta's way (`kayenta/score.ts`): each metric's verdict
 * so far becomes a label (Pass, High, Low, Nodata), each group scores the share of its metrics
 * that pass, and the weighted sum out of 100 is classified Pass, Marginal or Fail.
 *
 * Why not score once at the end, as Kayenta does per interval: Aviary's metrics decide on their
 * own clocks (a sequential judge fails the moment its evidence suffices), so the score is taken
 * again whenever a metric has measured, and a Fail ends the run at once. A Pass or Marginal is
 * only final when every metric that counts has finished.
 *
 * Labels from a metric's phase:
 * - Failed → High (Low when its judge says the canary fell: a business rate, a lower quantile);
 * - Inconclusive → Nodata: the metric could not tell. Half or more Nodata scores 0 in Kayenta;
 *   here that makes the run Inconclusive, not Failed: nothing was seen to be worse;
 * - Running or Successful → Pass: no regression shown so far;
 * - Error (the provider is down) → the run is in Error as without scoring: a metric that cannot
 *   be measured is not a vote for the canary.
 * A metric with no measurement yet holds the score back (until then the run is Running).
 * dryRun metrics are Kayenta's muted ones: shown, not scored. A critical metric that does not
 * pass fails the run whatever the score.
 *
 * The false-rollback bound of the template's α (`alpha.ts`) still holds: a Fail needs at least
 * one metric that failed, which happens with probability ≤ the sum of their α's.
 *
 * @module
 */

import type { AnalysisTemplate } from "../spec/schema.js";
import type { MetricLabel } from "./kayenta/classify.js";
import { NODATA_THRESHOLD, type ScoreResult, scoreMetrics } from "./kayenta/score.js";
import type { MetricPhase, MetricState } from "./metric-state.js";

/** A scored template in a run plan: what is scored, how, by the metrics' names in the run. */
export interface ScoringPlan {
  template: string;
  pass: number;
  marginal: number;
  groupWeights: Record<string, number>;
  metrics: { name: string; groups: string[]; critical: boolean; muted: boolean }[];
}

/** The plan of one template (its metrics under the names they have in the run). */
export function scoringPlan(
  template: AnalysisTemplate,
  runNames: readonly string[],
): ScoringPlan | undefined {
  const s = template.scoring;
  if (s === undefined) return undefined;
  return {
    template: template.name,
    pass: s.pass,
    marginal: s.marginal,
    groupWeights: s.groupWeights,
    metrics: template.metrics.map((m, i) => ({
      name: runNames[i] ?? m.name,
      groups: m.groups ?? [m.name],
      critical: m.critical ?? false,
      muted: m.dryRun,
    })),
  };
}

/** One metric's part in the score. */
export interface Contribution {
  metric: string;
  label: MetricLabel;
  groups: string[];
  critical: boolean;
  muted: boolean;
  /** Points it adds to the score (its share of its groups' weights when it passes, else 0). */
  points: number;
  /** Points it could add. */
  of: number;
}

export interface ScoreVerdict {
  phase: MetricPhase;
  message: string;
  /** Absent while a metric has yet to measure, or when one is in Error. */
  result?: ScoreResult;
  contributions: Contribution[];
}

function labelOf(state: MetricState): MetricLabel {
  switch (state.phase) {
    case "Failed":
      return state.failedLabel ?? failedDirection(state);
    case "Inconclusive":
      return "Nodata";
    default:
      return "Pass";
  }
}

/** Which way a metric whose measurements carried no label failed, from its judge. */
function failedDirection(state: MetricState): MetricLabel {
  const j = state.metric.judge;
  if (j !== undefined && "sequential" in j && j.sequential.direction === "decrease") return "Low";
  if (j !== undefined && "mannWhitney" in j && j.mannWhitney.direction === "decrease") return "Low";
  return "High";
}

/** The scored template's verdict from its metrics' states (keyed by their names in the run). */
export function scoreRun(
  plan: ScoringPlan,
  states: ReadonlyMap<string, MetricState>,
): ScoreVerdict {
  const entries = plan.metrics.map((m) => ({ m, state: states.get(m.name) as MetricState }));
  const counted = entries.filter((e) => !e.m.muted);
  const broken = counted.find((e) => e.state.phase === "Error");
  if (broken !== undefined)
    return {
      phase: "Error",
      message: `${broken.m.name}: ${broken.state.lastMessage}`,
      contributions: [],
    };
  const waiting = counted.filter((e) => e.state.measurements === 0).map((e) => e.m.name);
  if (waiting.length > 0)
    return {
      phase: "Running",
      message: `score of ${plan.template}: waiting for ${waiting.join(", ")}`,
      contributions: [],
    };

  const labelled = entries.map((e) => ({ ...e, label: labelOf(e.state) }));
  const result = scoreMetrics(
    labelled.map((e) => ({
      name: e.m.name,
      groups: e.m.groups,
      label: e.label,
      critical: e.m.critical,
      muted: e.m.muted,
    })),
    plan.groupWeights,
    { pass: plan.pass, marginal: plan.marginal },
  );
  const contributions = labelled.map((e): Contribution => {
    let of = 0;
    let points = 0;
    if (!e.m.muted) {
      for (const g of new Set(e.m.groups)) {
        const group = result.groups.find((x) => x.name === g);
        if (group === undefined) continue;
        const c = group.counts;
        const inGroup = c.Pass + c.High + c.Low + c.NodataFailMetric;
        if (inGroup === 0) continue;
        of += group.weight / inGroup;
        if (e.label === "Pass") points += group.weight / inGroup;
      }
    }
    return {
      metric: e.m.name,
      label: e.label,
      groups: e.m.groups,
      critical: e.m.critical,
      muted: e.m.muted,
      points: round2(points),
      of: round2(of),
    };
  });
  const parts = contributions
    .filter((c) => !c.muted)
    .map((c) => `${c.metric} ${c.label} ${c.points}/${c.of}`)
    .join(", ");
  const allDone = counted.every((e) => e.state.done);
  const limits = `pass ≥ ${plan.pass}, fails ≤ ${plan.marginal}`;
  let phase: MetricPhase;
  let message: string;
  if (result.criticalFailures.length > 0) {
    phase = "Failed";
    message = `score of ${plan.template} 0: critical ${result.criticalFailures.join(", ")} did not pass (${parts})`;
  } else if (nodataOverride(result)) {
    // Kayenta scores 0 when half the metrics have no data. Could not tell is not worse: the
    // score without the override decides a failure, and otherwise a person does.
    const failed = result.weightedScore <= plan.marginal;
    phase = failed ? "Failed" : allDone ? "Inconclusive" : "Running";
    message = `score of ${plan.template} ${result.weightedScore} (${limits}), ${result.nodata.length} of ${result.scored} metrics inconclusive: ${parts}`;
  } else if (result.classification === "Fail") {
    phase = "Failed";
    message = `score of ${plan.template} ${result.score} (${limits}): ${parts}`;
  } else {
    phase = !allDone ? "Running" : result.classification === "Pass" ? "Successful" : "Inconclusive";
    message = `score of ${plan.template} ${result.score} (${limits}${result.classification === "Marginal" ? ", marginal" : ""}): ${parts}`;
  }
  return { phase, message, result, contributions };
}

function nodataOverride(r: ScoreResult): boolean {
  return (
    r.criticalFailures.length === 0 &&
    r.scored > 0 &&
    (100 * r.nodata.length) / r.scored >= NODATA_THRESHOLD
  );
}

function round2(v: number): number {
  return Math.round((v + Number.EPSILON) * 100) / 100;
}
