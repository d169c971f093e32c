/**
 * The strategy a rollout follows, resolved once when it starts and stored with it, so a spec
 * edit during a rollout changes the next rollout, not the running one.
 *
 * @module
 */

import type { AnalysisRef, AnalysisTemplate, Gate, Step, Strategy } from "../spec/schema.js";
import { parseDuration } from "../util/duration.js";

export interface ResolvedStrategy {
  steps: Step[];
  /** The analysis templates the steps name, as they were when the rollout started. */
  templates: Record<string, AnalysisTemplate>;
  backgroundAnalysis: (AnalysisRef & { startingStep: number }) | null;
  progressDeadlineMs: number;
  promotionHoldMs: number;
  autoPromote: boolean;
  abortOnTargetsDown: boolean;
  /** Absent in rollouts stored before gates existed. */
  gates?: Gate[];
}

/** The managed route name the blue/green form uses for its preview. */
export const PREVIEW_ROUTE = "preview";

/** Expands the blue/green form into plain steps, converts durations, and snapshots the templates used. */
export function resolveStrategy(
  strategy: Strategy,
  templates: readonly AnalysisTemplate[] = [],
): ResolvedStrategy {
  let steps = strategy.steps;
  const bg = strategy.blueGreen;
  if (bg !== undefined) {
    steps = [
      { setHeaderRoute: { name: PREVIEW_ROUTE, match: bg.preview } },
      ...(bg.prePromotionAnalysis ? [{ analysis: bg.prePromotionAnalysis }] : []),
      { pause: bg.autoPromotionAfter === undefined ? {} : { duration: bg.autoPromotionAfter } },
    ];
  }
  const used = new Set([
    ...steps.flatMap((s) => ("analysis" in s ? s.analysis.templates : [])),
    ...(strategy.analysis?.templates ?? []),
  ]);
  return {
    steps,
    templates: Object.fromEntries(
      templates.filter((t) => used.has(t.name)).map((t) => [t.name, t]),
    ),
    backgroundAnalysis: strategy.analysis ?? null,
    progressDeadlineMs: parseDuration(strategy.progressDeadline) as number,
    promotionHoldMs: parseDuration(strategy.promotion.hold) as number,
    autoPromote: strategy.promotion.auto,
    abortOnTargetsDown: strategy.abortOnTargetsDown,
    gates: strategy.gates,
  };
}

/** A one-line description of a step, for history and the CLI. */
export function describeStep(step: Step | undefined): string {
  if (step === undefined) return "promotion";
  if ("setWeight" in step) return `setWeight ${step.setWeight}%`;
  if ("pause" in step)
    return step.pause.duration ? `pause ${step.pause.duration}` : "pause (until promoted)";
  if ("analysis" in step) return `analysis ${step.analysis.templates.join(", ")}`;
  if ("setHeaderRoute" in step)
    return step.setHeaderRoute.match
      ? `setHeaderRoute ${step.setHeaderRoute.name}`
      : `remove header route ${step.setHeaderRoute.name}`;
  return step.setMirror.percent > 0 ? `setMirror ${step.setMirror.percent}%` : "stop mirroring";
}
