import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  evidenceInWords,
  measurementValueText,
  newestFirst,
  runTitle,
  valueText,
  verdictOf,
} from "./analysis.js";
import { measurement, run, T0 } from "./fixtures.js";

describe("analysis in words", () => {
  it("tells a pass from the sequential judge's 'keep watching', and names every other verdict", () => {
    assert.equal(verdictOf(measurement(1)).label, "Pass");
    assert.equal(
      verdictOf(measurement(1, { evidence: { decision: "continue" } })).label,
      "Watching",
    );
    assert.equal(verdictOf(measurement(1, { phase: "Failed" })).label, "Fail");
    assert.equal(verdictOf(measurement(1, { phase: "Inconclusive" })).label, "Inconclusive");
    assert.equal(verdictOf(measurement(1, { phase: "Error" })).icon, "warning");
  });

  it("reads the sequential judge's evidence: decision, e-value against its threshold, counts, bake time", () => {
    const words = evidenceInWords({
      kind: "errors",
      alpha: 0.05,
      margin: 0.1,
      threshold: 20,
      cumulative: {
        canary: { requests: 1204, events: 3 },
        stable: { requests: 10311, events: 20 },
      },
      intervals: 4,
      decision: "continue",
      eValue: 1.3,
      logEValue: 0.26,
      pValue: 0.77,
      ratioLower: 0.4,
      ratioUpper: 1.8,
      bakedMs: 120_000,
      minBakeMs: 300_000,
    });
    assert.deepEqual(words, [
      "no decision yet, keep watching",
      "e-value 1.3, rolls back at ≥ 20",
      "p-value 0.77",
      "canary/stable rate ratio between 0.4 and 1.8 (passes below 1.1)",
      "canary 1,204 requests, 3 errors",
      "stable 10,311 requests, 20 errors",
      "watched 2m of at least 5m",
    ]);
  });

  it("reads what the judge adds on real fleets: a decrease, the drift discount, a recent start, the warm-up", () => {
    const words = evidenceInWords({
      kind: "events",
      margin: 0.1,
      bound: 0.9,
      direction: "decrease",
      decision: "continue",
      ratioLower: 0.7,
      ratioUpper: 1.2,
      dispersion: 2.5,
      evidenceSinceMs: 1_200_000,
    });
    assert.ok(
      words.includes("canary/stable rate ratio between 0.7 and 1.2 (passes above 0.9)"),
      words.join(" | "),
    );
    assert.ok(words.includes("this interval discounted 2.5× for drift between the versions"));
    assert.ok(words.includes("most of the evidence from the e-process started at 20m"));
    const warming = evidenceInWords({
      kind: "latency",
      decision: "continue",
      warmingUp: true,
      warmupMs: 60_000,
    });
    assert.ok(
      warming.includes("warming up: the first 1m is shown, not counted"),
      warming.join(" | "),
    );
    // Known fields are not repeated as `name: value`.
    assert.ok(
      !words.some((w) => w.startsWith("dispersion:") || w.startsWith("bound:")),
      words.join(" | "),
    );
  });

  it("says 'slow' for a latency signal and an unbounded ratio as ∞", () => {
    const words = evidenceInWords({
      kind: "latency",
      slowEdgeMs: 250,
      ratioLower: 0,
      ratioUpper: null,
      cumulative: { canary: { requests: 10, events: 2 } },
    });
    assert.deepEqual(words, [
      "canary/stable rate ratio between 0 and ∞",
      "canary 10 requests, 2 slow",
      "slow means over 250 ms",
    ]);
  });

  it("reads the relative judge's values, difference and allowance", () => {
    assert.deepEqual(
      evidenceInWords({
        kind: "errorRate",
        maxIncrease: 0.01,
        maxRatio: null,
        minSamples: 100,
        canaryRequests: 512,
        canary: 0.02,
        stable: 0.005,
        increase: 0.015,
        ratio: 4,
      }),
      [
        "canary 0.02, stable 0.005",
        "difference +0.015 (at most +0.01 allowed)",
        "ratio ×4",
        "512 canary requests (at least 100 needed)",
      ],
    );
  });

  it("reads Mann-Whitney's classification and falls back to plain 'name: value' for the rest", () => {
    const words = evidenceInWords({
      label: "High",
      estimate: 10,
      lower: 6,
      upper: 14,
      critical: true,
      reason: "canary higher than tolerated",
      canary: { n: 5 },
      stable: { n: 5 },
      nested: { ignored: true },
    });
    assert.deepEqual(words, [
      "canary 5 samples",
      "stable 5 samples",
      "classified High: difference 10 (6 to 14)",
      "critical: yes",
      "reason: canary higher than tolerated",
    ]);
  });

  it("shows values with sensible digits", () => {
    assert.equal(valueText(null), "no value");
    assert.equal(valueText(0.00123), "0.0012");
    assert.equal(valueText(0.5), "0.5");
    assert.equal(valueText(1234.567), "1,234.57");
    assert.equal(valueText(2.5e9), "2.50e+9");
  });

  it("says a value is an e-value when it is the judge's, not the metric's", () => {
    assert.equal(
      measurementValueText({ value: 0.4241, evidence: { eValue: 0.4241 } }),
      "e-value 0.4241",
    );
    assert.equal(measurementValueText({ value: 0.012, evidence: { canary: 0.012 } }), "0.012");
    assert.equal(measurementValueText({ value: null, evidence: {} }), "no value");
    assert.equal(measurementValueText({ value: 75, evidence: { kind: "score" } }), "score 75");
  });

  it("reads a scored template's verdict: the score, its limits and each metric's part", () => {
    const words = evidenceInWords({
      kind: "score",
      decision: "fail",
      score: 0,
      weightedScore: 75,
      classification: "Fail",
      pass: 95,
      marginal: 60,
      contributions: [
        { metric: "error-rate", label: "Pass", points: 50, of: 50, critical: false, muted: false },
        { metric: "panics", label: "High", points: 0, of: 25, critical: true, muted: false },
        { metric: "shadow", label: "High", points: 0, of: 0, critical: false, muted: true },
      ],
    });
    assert.deepEqual(words, [
      "decision: roll back",
      "score 0 of 100 (passes ≥ 95, fails ≤ 60)",
      "weighted sum 75 before the override",
      "error-rate Pass: 50 of 50 points",
      "panics High: 0 of 25 points (critical)",
      "shadow High: not scored (muted)",
    ]);
  });

  it("titles runs and orders them newest first", () => {
    assert.equal(runTitle(run()), "Step 3 analysis");
    assert.equal(
      runTitle(run({ id: "r1:background:2", kind: "background", stepIndex: null })),
      "Background analysis (attempt 2)",
    );
    const ordered = newestFirst([
      run({ id: "a", startedAt: T0, measurements: [measurement(1), measurement(2)] }),
      run({ id: "b", startedAt: T0 + 1 }),
    ]);
    assert.deepEqual(
      ordered.map((r) => r.id),
      ["b", "a"],
    );
    assert.deepEqual(
      ordered[1]?.measurements.map((m) => m.seq),
      [2, 1],
    );
  });
});
