import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveStrategy } from "../rollout/steps.js";
import type { Rollout } from "../rollout/types.js";
import { Strategy } from "../spec/schema.js";
import { changeLine, settled } from "./follow.js";

const T0 = Date.UTC(2026, 0, 1, 9, 30, 0);
const V1 = { version: "v1", targets: ["http://a"] };
const V2 = { version: "v2", targets: ["http://b"] };
const STRATEGY = resolveStrategy(
  Strategy.parse({ steps: [{ setWeight: 20 }, { pause: { duration: "30s" } }, { pause: {} }] }),
);

function rollout(changes: Partial<Rollout> = {}): Rollout {
  return {
    id: "r1",
    service: "web",
    stable: V1,
    canary: V2,
    phase: "Progressing",
    reason: "step 1/3: setWeight 20%",
    stepIndex: 0,
    stepStartedAt: T0,
    progressSince: T0,
    pausedAt: null,
    traffic: { stable: V1, canary: V2, weight: 20, headerRoutes: [], mirror: null },
    strategy: STRATEGY,
    gates: { passed: [], waiting: null },
    createdAt: T0,
    updatedAt: T0,
    finishedAt: null,
    revision: 1,
    ...changes,
  };
}

describe("--wait", () => {
  it("prints a line when the step, phase, weight or reason changes, at the server's time", () => {
    const first = rollout();
    assert.equal(
      changeLine(undefined, first),
      "09:30:00  Progressing  20%  step 1/3: setWeight 20%",
    );
    assert.equal(changeLine(first, { ...first, revision: 2 }), undefined, "nothing a reader sees");
    const pausing = rollout({
      phase: "Paused",
      stepIndex: 1,
      reason: "step 2/3: pausing for 30s",
      updatedAt: T0 + 1_500,
    });
    assert.equal(
      changeLine(first, pausing),
      "09:30:01  Paused       20%  step 2/3: pausing for 30s",
    );
    const healthy = rollout({
      phase: "Healthy",
      reason: "promoted v2: all steps passed",
      traffic: { stable: V2, canary: null, weight: 0, headerRoutes: [], mirror: null },
    });
    assert.equal(
      changeLine(pausing, healthy),
      "09:30:00  Healthy           promoted v2: all steps passed",
    );
  });

  it("stops at Healthy, Aborted, or a wait for a person — not at a timed pause", () => {
    assert.equal(settled(rollout()), undefined);
    assert.equal(settled(rollout({ phase: "Paused", stepIndex: 1 })), undefined, "timed pause");
    assert.equal(settled(rollout({ phase: "Paused", stepIndex: 2, pausedAt: T0 })), "waiting");
    assert.equal(settled(rollout({ phase: "Healthy" })), "healthy");
    assert.equal(settled(rollout({ phase: "Aborted" })), "aborted");
  });
});
