/**
 * The template-level α: a template's family-wise false-rollback rate. Its sequential metrics
 * that can fail the run (not dryRun) share it: those with their own `judge.sequential.alpha`
 * spend that much of it, and the rest is split equally (Bonferroni) across the others. The
 * chance that any of them rolls back a canary no worse than stable is then ≤ the sum of their
 * α's = the template's α (union bound), whatever the metrics' correlation.
 *
 * A dryRun metric cannot fail the run, so it spends nothing; its own verdict is reported at the
 * template's whole α, what it would decide alone. Judges other than the sequential one
 * (threshold, relative, Mann-Whitney) make no false-rollback promise and take no part.
 *
 * @module
 */

import { JudgeConfig } from "../spec/analysis.js";
import { isSequential } from "../spec/metric-kind.js";
import type { AnalysisMetric, AnalysisTemplate } from "../spec/schema.js";

/** The template's α when it names none: also a lone metric's α outside any template. */
export const DEFAULT_TEMPLATE_ALPHA = 0.01;

function ownAlpha(m: AnalysisMetric): number | undefined {
  return m.judge !== undefined && "sequential" in m.judge ? m.judge.sequential.alpha : undefined;
}

export interface AlphaBudget {
  /** The template's α (given or the default). */
  total: number;
  /** What the metrics with their own α spend of it. */
  spent: number;
  /** The metrics that share the rest. */
  sharing: string[];
  /** What each of them gets: (total − spent) / sharing.length (≤ 0: nothing left). */
  each: number;
}

/** How a template's α is spent across its metrics. */
export function alphaBudget(template: AnalysisTemplate): AlphaBudget {
  const total = template.alpha ?? DEFAULT_TEMPLATE_ALPHA;
  const counted = template.metrics.filter((m) => isSequential(m) && !m.dryRun);
  const spent = counted.reduce((s, m) => s + (ownAlpha(m) ?? 0), 0);
  const sharing = counted.filter((m) => ownAlpha(m) === undefined).map((m) => m.name);
  return { total, spent, sharing, each: (total - spent) / Math.max(1, sharing.length) };
}

/** The template's metrics with every sequential metric's α filled in. */
export function withTemplateAlpha(template: AnalysisTemplate): AnalysisMetric[] {
  const budget = alphaBudget(template);
  return template.metrics.map((m) => {
    if (!isSequential(m) || ownAlpha(m) !== undefined) return m;
    const sequential = m.judge !== undefined && "sequential" in m.judge ? m.judge.sequential : {};
    const judge = JudgeConfig.parse({
      sequential: { ...sequential, alpha: m.dryRun ? budget.total : budget.each },
    });
    return { ...m, judge };
  });
}
