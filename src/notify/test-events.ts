/**
 * History events as the controller records them, for the notification tests.
 *
 * @module
 */

import type { RolloutEvent } from "../rollout/types.js";

export const AT = Date.UTC(2026, 0, 1, 12, 30, 0);

/** An event with plausible defaults: a weight change of `shop`'s rollout. */
export function sampleEvent(over: Partial<RolloutEvent> = {}): RolloutEvent {
  return {
    seq: 42,
    rolloutId: "0mj3k2x1a-4f2a9c0d1e2b",
    service: "shop",
    at: AT,
    type: "weight.set",
    actor: "controller",
    reason: "canary weight 5% → 25%",
    phase: "Progressing",
    stepIndex: 2,
    weight: 25,
    data: { from: 5, to: 25 },
    ...over,
  };
}

export const STARTED = sampleEvent({
  seq: 1,
  type: "rollout.started",
  actor: "operator:alice",
  reason: "rollout of v2 started by operator:alice (stable v1)",
  stepIndex: 0,
  weight: 0,
  data: { stable: "v1", canary: "v2" },
});

export const ANALYSIS_ABORT = sampleEvent({
  seq: 7,
  type: "aborted",
  actor: "analysis",
  reason: "analysis failed: error rate 4.1% > 1% (<b>&</b>)",
  phase: "Aborted",
  weight: 0,
  data: { analysis: "step" },
});

export const OPERATOR_ABORT = sampleEvent({
  seq: 8,
  type: "aborted",
  actor: "operator:bob",
  reason: "aborted by operator:bob",
  phase: "Aborted",
  weight: 0,
  data: {},
});

export const PROMOTED = sampleEvent({
  seq: 9,
  type: "promoted",
  reason: "promoted v2: all steps passed",
  phase: "Healthy",
  stepIndex: 4,
  weight: 0,
  data: { from: "v1", to: "v2" },
});
