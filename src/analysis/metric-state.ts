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
  /**
   * Measurements whose window held no traffic to compare (the judge's `noTraffic`): they judged
   * nothing, so they never count toward `count`, and too many in a row end the metric
   * Inconclusive (a silent access log, a router that stopped reporting, a canary nobody reaches
   * must not let a count-bounded analysis pass unjudged).
   */
  unobserved = 0;
  consecutiveUnobserved = 0;
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
    noTraffic = false,
  ): void {
    this.measurements++;
    this.lastTo = to;
    this.lastMessage = message;
    if (phase === "Error") {
      this.consecutiveErrors++;
      return;
    }
    this.consecutiveErrors = 0;
    if (noTraffic) {
      this.unobserved++;
      this.consecutiveUnobserved++;
      return;
    }
    this.consecutiveUnobserved = 0;
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
        m.evidence.noTraffic === true,
      );
    }
  }

  /** The metric's phase from its limits (worst first, as Argo's assessMetricStatus). */
  get phase(): MetricPhase {
    const m = this.metric;
    if (this.failed > m.failureLimit) return "Failed";
    if (this.consecutiveErrors > m.consecutiveErrorLimit) return "Error";
    if (this.inconclusive > m.inconclusiveLimit) return "Inconclusive";
    // Windows without traffic in a row are bounded like errors in a row: the data source is as
    // good as down, and a person should look rather than the run wait for traffic forever.
    if (this.consecutiveUnobserved > m.consecutiveErrorLimit) return "Inconclusive";
    if (this.passedEarly && this.inline) return "Successful";
    if (m.count > 0 && this.judged >= m.count) return "Successful";
    return "Running";
  }

  /** Why the metric is in its phase, in a sentence (the last measurement's, unless silence decided). */
  get reason(): string {
    const m = this.metric;
    const silent =
      this.consecutiveUnobserved > m.consecutiveErrorLimit &&
      this.failed <= m.failureLimit &&
      this.consecutiveErrors <= m.consecutiveErrorLimit &&
      this.inconclusive <= m.inconclusiveLimit;
    if (!silent) return this.lastMessage;
    return `no traffic to judge in ${this.consecutiveUnobserved} measurements in a row (more than consecutiveErrorLimit ${m.consecutiveErrorLimit}): is the data source silent? Last: ${this.lastMessage}`;
  }

  /** Measurements that judged something: neither an error nor a window without traffic. */
  get judged(): number {
    return this.measurements - this.consecutiveErrors - this.unobserved;
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
