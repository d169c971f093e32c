/**
 * The template-level α: a template's family-wise false-rollback rate, split equally (Bonferroni)
 * across its sequential metrics that can fail the run (not dryRun) and name no α of their own.
 * With k such metrics each at α/k, the chance that any of them rolls back a canary no worse than
 * stable is ≤ k · α/k = α (union bound). A metric's explicit `judge.sequential.alpha` is kept
 * and adds to that bound; a dryRun metric gets the whole α (it cannot fail the run).
 *
 * @module
 */

import { type AnalysisMetric, type AnalysisTemplate, JudgeConfig } from "../spec/schema.js";

/** The sequential α when neither the metric nor the template says (a one-metric template). */
export const DEFAULT_TEMPLATE_ALPHA = 0.01;

/** Does this metric use the sequential judge (named, or the builtin signals' default)? */
export function isSequential(metric: AnalysisMetric): boolean {
  if (metric.judge === undefined) return "builtin" in metric.provider;
  return "sequential" in metric.judge;
}

/** The template's metrics with every sequential metric's α filled in. */
export function withTemplateAlpha(template: AnalysisTemplate): AnalysisMetric[] {
  const alpha = template.alpha ?? DEFAULT_TEMPLATE_ALPHA;
  const explicit = (m: AnalysisMetric) =>
    m.judge !== undefined && "sequential" in m.judge && m.judge.sequential.alpha !== undefined;
  const shared = template.metrics.filter((m) => isSequential(m) && !m.dryRun && !explicit(m));
  const each = alpha / Math.max(1, shared.length);
  return template.metrics.map((m) => {
    if (!isSequential(m) || explicit(m)) return m;
    const sequential = m.judge !== undefined && "sequential" in m.judge ? m.judge.sequential : {};
    const judge = JudgeConfig.parse({
      sequential: { ...sequential, alpha: m.dryRun ? alpha : each },
    });
    return { ...m, judge };
  });
}
