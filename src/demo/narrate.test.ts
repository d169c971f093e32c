import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RolloutEvent } from "../rollout/types.js";
import { formatFlagSummary, summarizeFlag } from "./flag-summary.js";
import type { VersionCounts } from "./load.js";
import { quantile } from "./load.js";
import { clockLabel, describeEvent, describeFlagEvent, plain, trafficLine } from "./narrate.js";
import { formatSummary, summarize } from "./summary.js";

function event(over: Partial<RolloutEvent>): RolloutEvent {
  return {
    seq: 1,
    rolloutId: "r1",
    service: "shop",
    at: 0,
    type: "weight.set",
    actor: "controller",
    reason: "",
    phase: "Progressing",
    stepIndex: 1,
    weight: 5,
    data: {},
    ...over,
  };
}

const counts = (requests: number, failed: number, latenciesMs: number[]): VersionCounts => ({
  requests,
  failed,
  latencyMsSum: latenciesMs.reduce((a, b) => a + b, 0),
  latenciesMs,
});

describe("demo narration", () => {
  it("says what happened in a line, and who rolled back", () => {
    assert.equal(clockLabel(65_400), "1:05");
    assert.equal(
      describeEvent(event({ type: "weight.set", data: { from: 5, to: 25 } }), plain),
      "canary weight 5% → 25% of users",
    );
    assert.equal(
      describeEvent(event({ type: "aborted", actor: "analysis", reason: "errors up" }), plain),
      "✗ rolled back by the analysis: errors up",
    );
    assert.equal(describeEvent(event({ type: "traffic.set" }), plain), undefined);
  });

  it("shows each version's share, errors and p99", () => {
    const recent = new Map([
      [
        "v1",
        counts(
          90,
          0,
          Array.from({ length: 90 }, () => 20),
        ),
      ],
      ["v2", counts(10, 1, [...Array.from({ length: 9 }, () => 30), 200])],
    ]);
    assert.equal(
      trafficLine(recent, plain),
      "traffic v1 90.0% err 0.0% p99 20ms · v2 10.0% err 10.0% p99 200ms",
    );
    assert.equal(trafficLine(new Map(), plain), "no traffic yet");
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });

  it("sums up, and is ok only when v2 was caught by the analysis and v3 promoted", () => {
    const base = {
      startedAt: 0,
      endedAt: 95_000,
      served: new Map([["v2", counts(40, 3, [])]]),
      noAnswer: 0,
    };
    const v2 = {
      version: "v2",
      deployedAt: 6_000,
      maxWeight: 5,
      end: event({ type: "aborted", actor: "analysis", at: 14_000, reason: "latency up" }),
    };
    const v3 = {
      version: "v3",
      deployedAt: 20_000,
      maxWeight: 50,
      end: event({ type: "promoted", at: 85_000 }),
    };
    const good = summarize({ ...base, rollouts: [v2, v3] });
    assert.equal(good.ok, true);
    const text = formatSummary(good, plain);
    assert.match(text, /✗ v2 rolled back by the analysis, on its own, 8 s after it was deployed/);
    assert.match(text, /✓ v3 promoted to stable 1 min 5 s after/);
    assert.match(text, /v2\s+40 served\s+3 failed \(7\.50 %\)/);
    assert.match(text, /took 1 min 35 s/);
    const byHand = { ...v2, end: event({ type: "aborted", actor: "operator:x", at: 9_000 }) };
    assert.equal(summarize({ ...base, rollouts: [byHand, v3] }).ok, false);
    assert.equal(summarize({ ...base, rollouts: [v2, { ...v3, end: undefined }] }).ok, false);
  });
});

describe("the flag chapter's narration", () => {
  const flag = (over: Partial<RolloutEvent>) => event({ service: "flag:new-checkout", ...over });

  it("speaks of the flag, not of a canary", () => {
    assert.equal(
      describeFlagEvent(flag({ type: "weight.set", data: { from: 0, to: 10 } }), plain),
      'new-checkout: "on" for 10% of users, plus the beta testers',
    );
    assert.equal(
      describeFlagEvent(
        flag({ type: "aborted", actor: "analysis", reason: "analysis failed: error-rate: x" }),
        plain,
      ),
      "✗ the analysis switched new-checkout off for everyone: analysis failed: error-rate: x",
    );
  });

  it("is ok only when the analysis switched the flag off and the shop never moved", () => {
    const base = {
      startedAt: 0,
      endedAt: 11_000,
      rolloutStartedAt: 0,
      end: flag({ type: "aborted", actor: "analysis", at: 4_000, reason: "analysis failed: e" }),
      maxWeight: 10,
      stableBefore: "v1",
      stableAfter: "v1",
      shopEvents: 0,
      newCheckoutAtEnd: 0,
      served: new Map([["v1 new checkout", counts(80, 20, [])]]),
      noAnswer: 0,
    };
    const good = summarizeFlag(base);
    assert.equal(good.ok, true);
    const text = formatFlagSummary(good, plain);
    assert.match(text, /✗ new-checkout switched off by the analysis, on its own, 4 s after/);
    assert.match(text, /✓ the shop stayed on v1 the whole time/);
    assert.match(text, /v1 new checkout\s+80 served\s+20 failed \(25\.00 %\)/);
    assert.equal(summarizeFlag({ ...base, end: { ...base.end, actor: "operator:x" } }).ok, false);
    assert.equal(summarizeFlag({ ...base, stableAfter: "v2" }).ok, false);
    assert.equal(summarizeFlag({ ...base, shopEvents: 1 }).ok, false);
    assert.equal(summarizeFlag({ ...base, end: undefined }).ok, false);
  });
});
