/**
 * What kind of metric a spec entry is, read from its provider and judge: the questions the
 * spec's checks, the judges' factory and the α split all ask.
 *
 * @module
 */

import type { AnalysisMetric } from "./schema.js";

/** Whether a metric's provider gives counts (events and requests per version) instead of values. */
export function inCountsMode(metric: AnalysisMetric): boolean {
  const p = metric.provider;
  return (
    ("prometheus" in p && p.prometheus.counts !== undefined) ||
    ("web" in p && p.web.counts !== undefined) ||
    "flagEvent" in p
  );
}

/** Does this metric use the sequential judge (named, or the default of builtin and counts metrics)? */
export function isSequential(metric: AnalysisMetric): boolean {
  if (metric.judge === undefined) return "builtin" in metric.provider || inCountsMode(metric);
  return "sequential" in metric.judge;
}
