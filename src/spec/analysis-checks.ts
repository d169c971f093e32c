/**
 * Cross-field checks for analysis: every template a strategy names exists, every argument a
 * template needs gets a value, metric names are unique, each metric has a judge that fits its
 * provider, and an inline analysis can actually finish.
 *
 * @module
 */

import type { z } from "zod";
import { alphaBudget } from "../analysis/alpha.js";
import { checkThresholdExpression } from "../analysis/judges/threshold.js";
import { parseDuration } from "../util/duration.js";
import { inCountsMode } from "./metric-kind.js";
import type { AnalysisRef, AnalysisTemplate, Service } from "./schema.js";

/** The warm-up of a latency metric's sequential judge when none is set (the judge's default). */
export const DEFAULT_LATENCY_WARMUP = "1m";

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
    checkAlphaBudget(t, ["analysisTemplates", i], ctx);
    checkScoring(t, ["analysisTemplates", i], ctx);
  });
}

/** Groups and critical only mean something in a scored template; weights must name a group. */
function checkScoring(t: AnalysisTemplate, at: (string | number)[], ctx: z.RefinementCtx): void {
  if (t.scoring === undefined) {
    t.metrics.forEach((m, j) => {
      for (const field of ["groups", "critical"] as const) {
        if (m[field] !== undefined)
          ctx.addIssue({
            code: "custom",
            path: [...at, "metrics", j, field],
            message: `${field} only counts in a scored template: give template ${t.name} a scoring block, or remove it`,
          });
      }
    });
    return;
  }
  const groups = new Set(t.metrics.filter((m) => !m.dryRun).flatMap((m) => m.groups ?? [m.name]));
  if (groups.size === 0)
    ctx.addIssue({
      code: "custom",
      path: [...at, "scoring"],
      message: `every metric of template ${t.name} is dryRun, so there is nothing to score`,
    });
  for (const g of Object.keys(t.scoring.groupWeights)) {
    if (!groups.has(g))
      ctx.addIssue({
        code: "custom",
        path: [...at, "scoring", "groupWeights", g],
        message: `no metric of template ${t.name} that counts is in group ${g} (groups: ${[...groups].join(", ")})`,
      });
  }
}

/** The metrics' own α's must leave something of the template's α for the others (`alpha.ts`). */
function checkAlphaBudget(
  t: AnalysisTemplate,
  at: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  const b = alphaBudget(t);
  const round = (x: number) => Number(x.toPrecision(6));
  if (b.sharing.length > 0 && b.each <= 0) {
    ctx.addIssue({
      code: "custom",
      path: [...at, "alpha"],
      message: `the metrics' own judge.sequential.alpha add up to ${round(b.spent)}, leaving nothing of template ${t.name}'s alpha ${b.total} for ${b.sharing.join(", ")}: raise the template's alpha or lower theirs`,
    });
  } else if (t.alpha !== undefined && b.spent > t.alpha) {
    ctx.addIssue({
      code: "custom",
      path: [...at, "alpha"],
      message: `the metrics' own judge.sequential.alpha add up to ${round(b.spent)}, more than template ${t.name}'s alpha ${t.alpha}: raise the template's alpha or lower theirs`,
    });
  }
}

export function checkAnalysisRefs(
  services: ReadonlyArray<Pick<Service, "strategy"> & { name?: string }>,
  templates: AnalysisTemplate[],
  ctx: z.RefinementCtx,
  where: "services" | "flags" = "services",
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
      const at = [where, i, "strategy", ...path];
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
        template.metrics.forEach((m, j) => {
          if (where === "services" && "flagEvent" in m.provider)
            ctx.addIssue({
              code: "custom",
              path: [...at, "templates", k],
              message: `metric ${m.name} of template ${name} (analysisTemplates metrics[${j}]) uses the flagEvent provider, which measures a flag's variants, not service ${svc.name ?? i}: use it in a flag's analysis only`,
            });
        });
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
