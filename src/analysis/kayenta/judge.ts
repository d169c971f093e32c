/**
 * The NetflixACAJudge over a whole Kayenta canary config: classify every metric's canary
 * series against its baseline series, then score and classify the canary. The result follows
 * Kayenta's CanaryJudgeResult (judge name, summary score with classification and reason, group
 * scores, per-metric classification with its ratio).
 *
 * @module
 */

import type { KayentaCanaryConfig } from "./canary-config.js";
import { type ClassifyOptions, classifyMetric, type MetricClassification } from "./classify.js";
import { type ScoreResult, type ScoreThresholds, scoreMetrics } from "./score.js";

export interface MetricSeries {
  /** The canary's values, one per step (NaN where the step had no data). */
  experiment: readonly number[];
  /** The baseline's values over the same steps. */
  control: readonly number[];
}

export interface CanaryMetricResult {
  name: string;
  groups: string[];
  muted: boolean;
  classification: MetricClassification;
}

export interface CanaryJudgeResult {
  judgeName: string;
  score: ScoreResult;
  results: CanaryMetricResult[];
}

/**
 * Judges one interval. A metric missing from `data` is judged on empty series (Nodata, or
 * whatever its nanStrategy and mustHaveData make of that).
 */
export function judgeCanary(
  config: KayentaCanaryConfig,
  data: Readonly<Record<string, MetricSeries>>,
  thresholds: ScoreThresholds,
  options: ClassifyOptions = {},
): CanaryJudgeResult {
  const results = config.metrics.map((metric): CanaryMetricResult => {
    const series = Object.hasOwn(data, metric.name) ? data[metric.name] : undefined;
    const classification = classifyMetric(
      series?.experiment ?? [],
      series?.control ?? [],
      metric.judge,
      options,
    );
    return { name: metric.name, groups: metric.groups, muted: metric.muted, classification };
  });
  const score = scoreMetrics(
    results.map((r) => ({
      name: r.name,
      groups: r.groups,
      label: r.classification.label,
      critical: r.classification.critical,
      muted: r.muted,
    })),
    config.groupWeights,
    thresholds,
  );
  return { judgeName: config.judgeName, score, results };
}
