/**
 * Cross-field checks for analysis: every template a strategy names exists, every argument a
 * template needs gets a value, metric names are unique, each metric has a judge that fits its
 * provider, and an inline analysis can actually finish.
 *
 * @module
 */

import type { z } from "zod";
import { checkThresholdExpression } from "../analysis/judges/threshold.js";
import { parseDuration } from "../util/duration.js";
import type { AnalysisMetric, AnalysisRef, AnalysisTemplate, Service } from "./schema.js";

/** The warm-up of a latency metric's sequential judge when none is set (the judge's default). */
export const DEFAULT_LATENCY_WARMUP = "1m";

/** Whether a metric's provider gives counts (events and requests per version) instead of values. */
export function inCountsMode(metric: AnalysisMetric): boolean {
  const p = metric.provider;
  return (
    ("prometheus" in p && p.prometheus.counts !== undefined) ||
    ("web" in p && p.web.counts !== undefined)
  );
}

export function checkAnalysisTemplates(templates: AnalysisTemplate[], ctx: z.RefinementCtx): void {
  const names = new Map<string, number>();
  templates.forEach((t, i) => {
    const seen = names.get(t.name);
    if (seen !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["analysisTemplates", i, "name"],
        message: `template ${t.name} is already defined at analysisTemplates[${seen}]`,
      });
    } else names.set(t.name, i);
    const metricNames = new Set<string>();
    t.metrics.forEach((m, j) => {
      const at = ["analysisTemplates", i, "metrics", j];
      if (metricNames.has(m.name))
        ctx.addIssue({
          code: "custom",
          path: [...at, "name"],
          message: `metric ${m.name} appears twice in template ${t.name}`,
        });
      metricNames.add(m.name);
      const counts = inCountsMode(m);
      if (m.judge === undefined && !("builtin" in m.provider) && !counts) {
        ctx.addIssue({
          code: "custom",
          path: [...at, "judge"],
          message:
            "a metric from prometheus or web needs a judge (threshold, relative, mannWhitney or sequential), or counts mode (counts: events and requests), whose default judge is sequential",
        });
      }
      if (
        "builtin" in m.provider &&
        m.provider.builtin.signal === "requestRate" &&
        (m.judge === undefined || "sequential" in m.judge)
      ) {
        ctx.addIssue({
          code: "custom",
          path: [...at, "judge"],
          message:
            "requestRate is not an error or latency signal: give it a threshold or relative judge",
        });
      }
      if (m.judge !== undefined && "threshold" in m.judge) {
        for (const key of ["successCondition", "failureCondition"] as const) {
          const expr = m.judge.threshold[key];
          const problem = expr === undefined ? undefined : checkThresholdExpression(expr);
          if (problem !== undefined)
            ctx.addIssue({
              code: "custom",
              path: [...at, "judge", "threshold", key],
              message: `invalid CEL: ${problem}`,
            });
        }
      }
      if (
        m.judge !== undefined &&
        "sequential" in m.judge &&
        !("builtin" in m.provider) &&
        !counts
      ) {
        ctx.addIssue({
          code: "custom",
          path: [...at, "judge", "sequential"],
          message:
            "the sequential judge needs per-version counts: the builtin provider's, or counts mode (prometheus or web with counts: events and requests)",
        });
      }
      const sequential =
        m.judge === undefined
          ? undefined
          : "sequential" in m.judge
            ? m.judge.sequential
            : undefined;
      const signal = "builtin" in m.provider ? m.provider.builtin.signal : undefined;
      if (sequential?.maxRatio !== undefined && !signal?.startsWith("latency")) {
        ctx.addIssue({
          code: "custom",
          path: [...at, "judge", "sequential", "maxRatio"],
          message:
            "maxRatio compares latency quantiles: it needs a builtin latency signal (latencyP50, latencyP95, latencyP99)",
        });
      }
      if (sequential?.maxIncrease !== undefined && !(signal === "errorRate" || counts)) {
        ctx.addIssue({
          code: "custom",
          path: [...at, "judge", "sequential", "maxIncrease"],
          message:
            "maxIncrease is in points of a rate: it needs errorRate or counts mode; for latency use maxRatio",
        });
      }
    });
  });
}

export function checkAnalysisRefs(
  services: Service[],
  templates: AnalysisTemplate[],
  ctx: z.RefinementCtx,
): void {
  const byName = new Map(templates.map((t) => [t.name, t]));
  services.forEach((svc, i) => {
    const strategy = svc.strategy;
    if (strategy === undefined) return;
    const refs: Array<{ path: PropertyKey[]; ref: AnalysisRef; inline: boolean }> = [];
    strategy.steps.forEach((step, j) => {
      if ("analysis" in step)
        refs.push({ path: ["steps", j, "analysis"], ref: step.analysis, inline: true });
    });
    if (strategy.analysis) refs.push({ path: ["analysis"], ref: strategy.analysis, inline: false });
    if (strategy.blueGreen?.prePromotionAnalysis) {
      refs.push({
        path: ["blueGreen", "prePromotionAnalysis"],
        ref: strategy.blueGreen.prePromotionAnalysis,
        inline: true,
      });
    }
    for (const { path, ref, inline } of refs) {
      const at = ["services", i, "strategy", ...path];
      ref.templates.forEach((name, k) => {
        const template = byName.get(name);
        if (template === undefined) {
          const known =
            templates.length > 0
              ? ` (defined: ${templates.map((t) => t.name).join(", ")})`
              : " (no analysisTemplates are defined)";
          ctx.addIssue({
            code: "custom",
            path: [...at, "templates", k],
            message: `unknown analysis template '${name}'${known}`,
          });
          return;
        }
        for (const arg of template.args) {
          if (arg.value === undefined && ref.args[arg.name] === undefined) {
            ctx.addIssue({
              code: "custom",
              path: [...at, "args"],
              message: `template ${name} needs a value for arg '${arg.name}'`,
            });
          }
        }
        if (!inline) return;
        template.metrics.forEach((m) => {
          const canPassEarly = m.judge === undefined || "sequential" in m.judge;
          if (m.count === 0 && !canPassEarly) {
            ctx.addIssue({
              code: "custom",
              path: [...at, "templates", k],
              message: `metric ${m.name} of template ${name} has count 0 (no end) and a judge that cannot pass early, so this inline analysis would never finish: give it a count`,
            });
          }
          // A latency metric shows its warm-up without counting it: an inline run that ends
          // inside the warm-up would pass having judged nothing.
          const signal = "builtin" in m.provider ? m.provider.builtin.signal : undefined;
          const sequential: { warmup?: string | undefined } | undefined =
            m.judge === undefined ? {} : "sequential" in m.judge ? m.judge.sequential : undefined;
          if (m.count > 0 && sequential !== undefined && signal?.startsWith("latency")) {
            const warmup = parseDuration(sequential.warmup ?? DEFAULT_LATENCY_WARMUP) as number;
            const span =
              (parseDuration(m.initialDelay) as number) +
              m.count * (parseDuration(m.interval) as number);
            if (warmup > 0 && span <= warmup) {
              ctx.addIssue({
                code: "custom",
                path: [...at, "templates", k],
                message: `metric ${m.name} of template ${name} ends after ${m.count} measurements, within its ${sequential.warmup ?? DEFAULT_LATENCY_WARMUP} warm-up, so this inline analysis would pass having counted nothing: raise count or lower judge.sequential.warmup`,
              });
            }
          }
        });
      });
    }
  });
}
