import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DDSketch } from "@datadog/sketches-js";
import type { ArmObservation, Observation } from "../types.js";
import { createRelativeJudge } from "./relative.js";

function obs(canary: ArmObservation, stable?: ArmObservation): Observation {
  return { from: 0, to: 60_000, canary, ...(stable === undefined ? {} : { stable }) };
}

describe("relative judge", () => {
  it("compares rates in absolute points and shows the values next to the condition", () => {
    const judge = createRelativeJudge({ maxIncrease: 0.02, minSamples: 200 }, "rate");
    assert.equal(judge.window, "cumulative");
    assert.deepEqual(judge.slowEdgesMs, []);
    const bad = judge.judge(
      obs({ value: 0.031, requests: 400 }, { value: 0.009, requests: 8000 }),
      0,
    );
    assert.equal(bad.phase, "Failed");
    assert.equal(bad.value, 0.031);
    assert.equal(bad.message, "canary 3.1 % vs stable 0.9 %: +2.2 points > 2 points allowed");
    const ok = judge.judge(
      obs({ value: 0.025, requests: 400 }, { value: 0.009, requests: 8000 }),
      0,
    );
    assert.equal(ok.phase, "Successful");
    assert.equal(ok.message, "canary 2.5 % vs stable 0.9 %: +1.6 points ≤ 2 points allowed");
    const better = judge.judge(
      obs({ value: 0.001, requests: 400 }, { value: 0.01, requests: 8000 }),
      0,
    );
    assert.equal(better.phase, "Successful");
    assert.match(better.message, /−0\.9 points ≤ 2 points allowed/);
  });

  it("compares latencies as a ratio", () => {
    const judge = createRelativeJudge({ maxRatio: 1.5, minSamples: 200 }, "latency");
    const bad = judge.judge(obs({ value: 812, requests: 300 }, { value: 420, requests: 5000 }), 0);
    assert.equal(bad.phase, "Failed");
    assert.equal(bad.message, "canary 812 ms vs stable 420 ms: ×1.93 > ×1.5 allowed");
    assert.equal(bad.evidence.ratio, 812 / 420);
    const ok = judge.judge(obs({ value: 600, requests: 300 }, { value: 420, requests: 5000 }), 0);
    assert.equal(ok.phase, "Successful");
    assert.equal(ok.message, "canary 600 ms vs stable 420 ms: ×1.43 ≤ ×1.5 allowed");
  });

  it("fails when either of two conditions is broken", () => {
    const judge = createRelativeJudge(
      { maxIncrease: 100, maxRatio: 1.5, minSamples: 1 },
      "latency",
    );
    const v = judge.judge(obs({ value: 90, requests: 300 }, { value: 50, requests: 5000 }), 0);
    assert.equal(v.phase, "Failed");
    assert.equal(v.message, "canary 90 ms vs stable 50 ms: ×1.8 > ×1.5 allowed");
    const w = judge.judge(obs({ value: 70, requests: 300 }, { value: 50, requests: 5000 }), 0);
    assert.equal(
      w.message,
      "canary 70 ms vs stable 50 ms: +20 ms ≤ 100 ms allowed, ×1.4 ≤ ×1.5 allowed",
    );
  });

  it("is Inconclusive below minSamples canary requests", () => {
    const judge = createRelativeJudge({ maxIncrease: 0.02, minSamples: 200 }, "rate");
    const v = judge.judge(obs({ value: 0.5, requests: 37 }, { value: 0.01, requests: 1000 }), 0);
    assert.equal(v.phase, "Inconclusive");
    assert.equal(v.message, "only 37 canary requests; need 200");
    // A latency sketch's count stands in for requests.
    const lat = createRelativeJudge({ maxRatio: 1.5, minSamples: 200 }, "latency");
    const sketch = new DDSketch();
    for (let i = 0; i < 50; i++) sketch.accept(100);
    const l = lat.judge(obs({ value: 900, sketch }, { value: 100, requests: 1000 }), 0);
    assert.equal(l.phase, "Inconclusive");
    assert.equal(l.message, "only 50 canary requests; need 200");
  });

  it("says when the request count is unknown instead of pretending", () => {
    const judge = createRelativeJudge({ maxRatio: 1.5, minSamples: 200 }, "latency");
    const v = judge.judge(obs({ value: 100 }, { value: 100 }), 0);
    assert.equal(v.phase, "Successful");
    assert.match(v.message, /request count unknown: minSamples not checked/);
    assert.equal(v.evidence.samplesUnknown, true);
  });

  it("is an Error without a stable arm, Inconclusive without data, Error for nonsense", () => {
    const judge = createRelativeJudge({ maxIncrease: 0.02, minSamples: 10 }, "rate");
    const noStable = judge.judge(obs({ value: 0.01, requests: 500 }), 0);
    assert.equal(noStable.phase, "Error");
    assert.match(noStable.message, /no stable baseline/);
    assert.equal(
      judge.judge(obs({ value: null, requests: 500 }, { value: 0.01, requests: 500 }), 0).phase,
      "Inconclusive",
    );
    assert.equal(
      judge.judge(obs({ value: 0.01, requests: 500 }, { value: null }), 0).phase,
      "Inconclusive",
    );
    assert.equal(
      judge.judge(obs({ value: Number.NaN, requests: 500 }, { value: 0.01 }), 0).phase,
      "Error",
    );
    assert.equal(
      judge.judge(obs({ value: -0.1, requests: 500 }, { value: 0.01 }), 0).phase,
      "Error",
    );
  });

  it("derives a rate from counts when the provider gives no value; ratio of zeros is 1", () => {
    const judge = createRelativeJudge({ maxIncrease: 0.02, maxRatio: 2, minSamples: 10 }, "rate");
    const v = judge.judge(
      obs({ value: null, requests: 500, errors: 20 }, { value: null, requests: 1000, errors: 10 }),
      0,
    );
    assert.equal(v.phase, "Failed");
    assert.equal(
      v.message,
      "canary 4 % vs stable 1 %: +3 points > 2 points allowed, ×4 > ×2 allowed",
    );
    const zero = judge.judge(obs({ value: 0, requests: 500 }, { value: 0, requests: 1000 }), 0);
    assert.equal(zero.phase, "Successful");
    const fromZero = judge.judge(
      obs({ value: 0.01, requests: 500 }, { value: 0, requests: 1000 }),
      0,
    );
    assert.equal(fromZero.phase, "Failed");
    assert.match(fromZero.message, /×∞ > ×2 allowed/);
    assert.equal(fromZero.evidence.ratio, null);
  });

  it("keeps no state", () => {
    const judge = createRelativeJudge({ maxIncrease: 0.02, minSamples: 10 }, "rate");
    assert.equal(judge.state(), null);
    judge.restore(null);
    assert.throws(() => createRelativeJudge({ minSamples: 10 }, "rate"), RangeError);
  });
});
