import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JudgeConfig } from "../../spec/analysis.js";
import type { MannWhitneyConfig } from "../kayenta/classify.js";
import type { ArmObservation, Observation } from "../types.js";
import { createMannWhitneyJudge } from "./mann-whitney.js";

function config(partial: Record<string, unknown> = {}): MannWhitneyConfig {
  const parsed = JudgeConfig.parse({ mannWhitney: partial });
  assert.ok("mannWhitney" in parsed);
  return parsed.mannWhitney;
}

function obs(canary: Partial<ArmObservation>, stable?: Partial<ArmObservation>): Observation {
  return {
    canary: { value: null, ...canary },
    ...(stable === undefined ? {} : { stable: { value: null, ...stable } }),
    from: 0,
    to: 60_000,
  };
}

describe("mannWhitney judge", () => {
  it("is a stateless cumulative judge", () => {
    const j = createMannWhitneyJudge(config());
    assert.equal(j.type, "mannWhitney");
    assert.equal(j.window, "cumulative");
    assert.deepEqual(j.slowEdgesMs, []);
    assert.equal(j.state(), null);
    j.restore({ anything: 1 });
    assert.equal(j.state(), null);
  });

  it("fails a canary that is higher, with the numbers in the message", () => {
    const j = createMannWhitneyJudge(config());
    const v = j.judge(obs({ series: [11, 12, 13, 14, 15] }, { series: [1, 2, 3, 4, 5] }), 60_000);
    assert.equal(v.phase, "Failed");
    assert.equal(v.value, 10);
    assert.equal(
      v.message,
      "canary series median 13 vs stable 3 (n 5 vs 5): HL shift +10, 98 % CI [+6, +14] above tolerance ±2.5, meanRatio 4.333 → High",
    );
    assert.equal(v.evidence.label, "High");
    assert.equal(v.evidence.estimate, 10);
    assert.ok(Math.abs((v.evidence.lower as number) - 6) < 1e-9);
    assert.ok(Math.abs((v.evidence.upper as number) - 14) < 1e-9);
    assert.ok(Math.abs((v.evidence.ratio as number) - 13 / 3) < 1e-12);
    assert.equal((v.evidence.canary as { n: number }).n, 5);
    assert.equal((v.evidence.stable as { n: number }).n, 5);
    assert.doesNotThrow(() => JSON.stringify(v.evidence));
  });

  it("reads like an operator's sentence on realistic series", () => {
    const stable = Array.from({ length: 30 }, (_, i) => 140 + ((i * 7) % 11) - 5);
    const canary = Array.from({ length: 30 }, (_, i) => 212 + ((i * 5) % 13) - 6);
    const v = createMannWhitneyJudge(config()).judge(
      obs({ series: canary }, { series: stable }),
      0,
    );
    assert.equal(v.phase, "Failed");
    assert.equal(
      v.message,
      "canary series median 211.5 vs stable 140 (n 30 vs 30): HL shift +72, 98 % CI [+69, +74] above tolerance ±18, meanRatio 1.512 → High",
    );
    // The same spread on both sides is no change.
    const same = createMannWhitneyJudge(config({ direction: "either" })).judge(
      obs({ series: stable.map((v) => v + 0.5) }, { series: stable }),
      0,
    );
    assert.equal(same.phase, "Successful", same.message);
  });

  it("passes a canary that is only lower when increases fail", () => {
    const j = createMannWhitneyJudge(config({ direction: "increase" }));
    const v = j.judge(obs({ series: [1, 2, 3, 4, 5] }, { series: [11, 12, 13, 14, 15] }), 0);
    assert.equal(v.phase, "Successful");
    assert.match(v.message, /only an increase fails → Pass$/);
  });

  it("fails a lower canary when decreases fail", () => {
    const j = createMannWhitneyJudge(config({ direction: "decrease" }));
    assert.equal(
      j.judge(obs({ series: [1, 2, 3, 4, 5] }, { series: [11, 12, 13, 14, 15] }), 0).phase,
      "Failed",
    );
  });

  it("passes overlapping series", () => {
    const j = createMannWhitneyJudge(config({ direction: "either" }));
    const v = j.judge(
      obs({ series: [5, 7, 8, 9, 10, 12, 13, 15] }, { series: [1, 3, 4, 6, 8, 9, 11] }),
      0,
    );
    assert.equal(v.phase, "Successful");
    assert.equal(v.value, 4);
  });

  it("is inconclusive without data, and fails when data is required", () => {
    const noData = obs({ series: [Number.NaN, Number.NaN] }, { series: [1, 2] });
    const v = createMannWhitneyJudge(config()).judge(noData, 0);
    assert.equal(v.phase, "Inconclusive");
    assert.equal(v.value, null);
    assert.match(v.message, /no canary data .*→ Nodata/);
    assert.equal(
      createMannWhitneyJudge(config({ mustHaveData: true })).judge(noData, 0).phase,
      "Failed",
    );
    // A provider that saw nothing at all (no value, no series) is no data too.
    assert.equal(
      createMannWhitneyJudge(config()).judge(obs({}, { series: [1] }), 0).phase,
      "Inconclusive",
    );
  });

  it("is inconclusive with one point per side (too early)", () => {
    const v = createMannWhitneyJudge(config()).judge(obs({ series: [3] }, { series: [1] }), 0);
    assert.equal(v.phase, "Inconclusive");
    assert.match(v.message, /too few distinct points to compare yet \(canary n 1, stable n 1\)/);
  });

  it("errors when the provider cannot give what the judge needs", () => {
    const j = createMannWhitneyJudge(config());
    const noStable = j.judge(obs({ series: [1, 2, 3] }), 0);
    assert.equal(noStable.phase, "Error");
    assert.match(noStable.message, /no stable baseline/);
    const noSeries = j.judge(obs({ value: 12 }, { value: 10 }), 0);
    assert.equal(noSeries.phase, "Error");
    assert.match(noSeries.message, /one value, not a per-step series/);
    const infinite = j.judge(obs({ series: [1, Number.POSITIVE_INFINITY] }, { series: [1, 2] }), 0);
    assert.equal(infinite.phase, "Error");
    assert.match(infinite.message, /infinite/);
  });
});
