/**
 * The strategy a rollout follows, read from the JSON the API sends (`rollout.strategy`, fixed
 * when the rollout started). Read defensively: a strategy written by another version of Aviary
 * shows what can be understood, never a blank page.
 *
 * @module
 */

import type { Rollout } from "../../rollout/types.js";
import type { Gate, Step } from "../../spec/schema.js";
import { parseDuration } from "../../util/duration.js";
import { formatDuration, formatNumber } from "./format.js";

export type { Gate, Step };

export interface StrategyView {
  steps: Step[];
  gates: Gate[];
  autoPromote: boolean;
  promotionHoldMs: number;
}

export function strategyOf(r: Rollout): StrategyView {
  const s = (typeof r.strategy === "object" && r.strategy !== null ? r.strategy : {}) as Record<
    string,
    unknown
  >;
  return {
    steps: Array.isArray(s.steps) ? (s.steps as Step[]) : [],
    gates: Array.isArray(s.gates) ? (s.gates as Gate[]) : [],
    autoPromote: s.autoPromote !== false,
    promotionHoldMs: typeof s.promotionHoldMs === "number" ? s.promotionHoldMs : 0,
  };
}

export function stepsOf(r: Rollout): Step[] {
  return strategyOf(r).steps;
}

/** A timed pause's length in ms; undefined for a pause until promoted and for other steps. */
export function pauseMs(step: Step | undefined): number | undefined {
  if (step === undefined || !("pause" in step) || step.pause.duration === undefined)
    return undefined;
  return parseDuration(step.pause.duration);
}

/** True for a `pause: {}` step: it waits for promote. */
export function isManualPause(step: Step | undefined): boolean {
  return step !== undefined && "pause" in step && step.pause.duration === undefined;
}

/** A step in words: "Set weight to 20%", "Pause 30s", "Pause until promoted"... */
export function stepLabel(step: Step): string {
  if ("setWeight" in step) return `Set weight to ${formatNumber(step.setWeight)}%`;
  if ("pause" in step) {
    const ms = pauseMs(step);
    return ms === undefined ? "Pause until promoted" : `Pause ${formatDuration(ms)}`;
  }
  if ("analysis" in step) return `Analysis: ${step.analysis.templates.join(", ")}`;
  if ("setHeaderRoute" in step)
    return step.setHeaderRoute.match
      ? `Header route ${step.setHeaderRoute.name} to canary`
      : `Remove header route ${step.setHeaderRoute.name}`;
  if ("setMirror" in step)
    return step.setMirror.percent > 0
      ? `Mirror ${formatNumber(step.setMirror.percent)}% to canary`
      : "Stop mirroring";
  return "Unknown step";
}
