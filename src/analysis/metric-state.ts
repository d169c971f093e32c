/**
 * The bookkeeping of one metric in one run, Argo Rollouts' way: counts of measurements by
 * phase, errors in a row, and the metric's own phase from its limits. Rebuilt from stored
 * measurements after a restart, so limits count every measurement exactly once.
 *
 * @module
 */

import type { AnalysisMetric } from "../spec/schema.js";
import type { MeasurementRecord } from "../store/store.js";
import type { MeasurementPhase } from "./types.js";

export type MetricPhase = "Running" | "Successful" | "Failed" | "Inconclusive" | "Error";

export class MetricState {
  readonly metric: AnalysisMetric;
  measurements = 0;
  failed = 0;
  inconclusive = 0;
  consecutiveErrors = 0;
  /** The judge said the canary passed early (sequential). */
  passedEarly = false;
  /** End of the last measured window (epoch ms). */
  lastTo: number;
  lastMessage = "";
  /** Which way the last failed measurement went, when its judge says (Kayenta's High or Low). */
  failedLabel: "High" | "Low" | undefined;

  /** Inline runs finish on an early pass; background runs keep watching after one. */
  readonly inline: boolean;

  constructor(metric: AnalysisMetric, startsAt: number, inline: boolean) {
    this.metric = metric;
    this.lastTo = startsAt;
    this.inline = inline;
  }

  record(
    phase: MeasurementPhase,
    decision: unknown,
    to: number,
    message: string,
    label?: unknown,
  ): void {
    this.measurements++;
    this.lastTo = to;
    this.lastMessage = message;
    if (phase === "Error") {
      this.consecutiveErrors++;
      return;
    }
    this.consecutiveErrors = 0;
    if (phase === "Failed") {
      this.failed++;
      if (label === "High" || label === "Low") this.failedLabel = label;
    } else if (phase === "Inconclusive") this.inconclusive++;
    else if (decision === "pass") this.passedEarly = true;
  }

  /** Replays stored measurements (oldest first). */
  replay(stored: readonly MeasurementRecord[]): void {
    for (const m of stored) {
      const window = m.evidence.window as { to?: number } | undefined;
      this.record(
        m.phase,
        m.evidence.decision,
        window?.to ?? m.finishedAt,
        m.message,
        m.evidence.label,
      );
    }
  }

  /** The metric's phase from its limits (worst first, as Argo's assessMetricStatus). */
  get phase(): MetricPhase {
    const m = this.metric;
    if (this.failed > m.failureLimit) return "Failed";
    if (this.consecutiveErrors > m.consecutiveErrorLimit) return "Error";
    if (this.inconclusive > m.inconclusiveLimit) return "Inconclusive";
    if (this.passedEarly && this.inline) return "Successful";
    if (m.count > 0 && this.measurements - this.consecutiveErrors >= m.count) return "Successful";
    return "Running";
  }

  get done(): boolean {
    return this.phase !== "Running";
  }
}

const ORDER: readonly MetricPhase[] = ["Failed", "Error", "Inconclusive", "Running", "Successful"];

/**
 * A run's phase from its metrics: the worst non-dry-run metric decides; a run is Successful
 * only when every counted metric is. Dry-run metrics are measured and shown, never decisive.
 */
export function foldRunPhase(states: readonly MetricState[]): MetricPhase {
  return worstPhase(states.filter((s) => !s.metric.dryRun).map((s) => s.phase));
}

/** The worst of some phases (Successful when there are none). */
export function worstPhase(phases: readonly MetricPhase[]): MetricPhase {
  let worst: MetricPhase = "Successful";
  for (const p of phases) if (ORDER.indexOf(p) < ORDER.indexOf(worst)) worst = p;
  return worst;
}
