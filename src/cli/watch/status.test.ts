import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveStrategy } from "../../rollout/steps.js";
import type { Rollout } from "../../rollout/types.js";
import { Strategy } from "../../spec/schema.js";
import { personHint, timedWait, waitsFor } from "./status.js";

const T0 = Date.UTC(2026, 0, 1);
const V1 = { version: "v1", targets: ["http://a"] };
const V2 = { version: "v2", targets: ["http://b"] };

function rollout(strategy: unknown, changes: Partial<Rollout>): Rollout {
  return {
    id: "r1",
    service: "web",
    stable: V1,
    canary: V2,
    phase: "Progressing",
    reason: "",
    stepIndex: 0,
    stepStartedAt: T0,
    progressSince: T0,
    pausedAt: null,
    traffic: { stable: V1, canary: V2, weight: 10, headerRoutes: [], mirror: null },
    strategy,
    gates: { passed: [], waiting: null },
    createdAt: T0,
    updatedAt: T0,
    finishedAt: null,
    revision: 1,
    ...changes,
  };
}

const strategy = (input: unknown) => resolveStrategy(Strategy.parse(input));

describe("rollout status", () => {
  it("a timed pause counts down from its start; the promotion hold too", () => {
    const s = strategy({ steps: [{ pause: { duration: "1m" } }], promotion: { hold: "5m" } });
    const paused = rollout(s, { phase: "Paused" });
    assert.deepEqual(timedWait(paused, T0 + 20_000), {
      kind: "pause",
      durationMs: 60_000,
      leftMs: 40_000,
      frozen: false,
    });
    const holding = rollout(s, {
      phase: "Promoting",
      stepIndex: 1,
      traffic: { stable: V1, canary: V2, weight: 100, headerRoutes: [], mirror: null },
    });
    assert.equal(timedWait(holding, T0 + 60_000)?.leftMs, 240_000);
    assert.equal(timedWait(holding, T0 + 60_000)?.kind, "hold");
    assert.equal(timedWait(rollout(s, { phase: "Healthy" }), T0), undefined);
  });

  it("tells why a rollout waits for a person", () => {
    const s = strategy({ steps: [{ setWeight: 10 }, { pause: {} }], promotion: { auto: false } });
    assert.equal(waitsFor(rollout(s, {})), undefined, "running");
    assert.equal(waitsFor(rollout(s, { stepIndex: 1, pausedAt: T0 })), "manual-pause");
    const gate = rollout(s, {
      stepIndex: 2,
      pausedAt: T0,
      traffic: { stable: V1, canary: V2, weight: 100, headerRoutes: [], mirror: null },
    });
    assert.equal(waitsFor(gate), "promotion-gate");
    assert.equal(
      waitsFor(rollout(s, { pausedAt: T0, reason: "analysis inconclusive: no data" })),
      "inconclusive",
    );
    assert.equal(
      waitsFor(rollout(s, { pausedAt: T0, reason: "paused by operator:bob" })),
      "operator",
    );
    assert.match(personHint("web", gate) ?? "", /aviary promote web makes v2 stable/);
  });

  it("a gate without a hook waits for a person; one with a hook opens by itself", () => {
    const s = strategy({
      steps: [{ setWeight: 10 }],
      gates: [
        { name: "approve", type: "confirm-rollout" },
        { name: "ci", type: "pre-rollout", url: "http://ci.example/check" },
      ],
    });
    const held = (gates: string[]) =>
      rollout(s, {
        phase: "Waiting",
        gates: { passed: [], waiting: { point: "start", gates, since: T0 } },
      });
    assert.equal(waitsFor(held(["approve", "ci"])), "gates");
    assert.equal(waitsFor(held(["ci"])), undefined);
    assert.equal(
      personHint("web", held(["approve", "ci"])),
      "waiting at a gate: aviary gate open web approve · aviary abort web rolls back",
    );
    const paused = { ...held(["ci"]), pausedAt: T0, reason: "paused by operator:bob" };
    assert.equal(waitsFor(paused), "operator", "an operator pause at a gate is resumed");
  });

  it("does not trip over a strategy it cannot read", () => {
    const r = rollout({ something: "else" }, { phase: "Paused", pausedAt: T0 });
    assert.equal(timedWait(r, T0), undefined);
    assert.equal(waitsFor(r), "operator");
  });
});
