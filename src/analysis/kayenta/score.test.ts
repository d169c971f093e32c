import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  classifyScore,
  resolveWeights,
  type ScoredMetric,
  type ScoreThresholds,
  scoreMetrics,
} from "./score.js";

interface Case {
  name: string;
  metrics: ScoredMetric[];
  groupWeights: Record<string, number>;
  thresholds: ScoreThresholds;
  expected: {
    score: number;
    weightedScore?: number;
    classification: string;
    reason?: string;
    /** group → [score, weight] */
    groups?: Record<string, [number, number]>;
  };
}

const fixtures = JSON.parse(
  readFileSync(new URL("./fixtures/score.json", import.meta.url), "utf8"),
) as {
  cases: Case[];
};

describe("WeightedSumScorer + ThresholdScoreClassifier (fixtures)", () => {
  for (const c of fixtures.cases) {
    it(c.name, () => {
      const r = scoreMetrics(c.metrics, c.groupWeights, c.thresholds);
      assert.equal(r.score, c.expected.score);
      assert.equal(r.classification, c.expected.classification);
      if (c.expected.weightedScore !== undefined)
        assert.equal(r.weightedScore, c.expected.weightedScore);
      if (c.expected.reason !== undefined) assert.equal(r.reason, c.expected.reason);
      for (const [name, [score, weight]] of Object.entries(c.expected.groups ?? {})) {
        const g = r.groups.find((x) => x.name === name);
        assert.ok(g, `group ${name}`);
        assert.ok(Math.abs(g.score - score) < 1e-9, `${name} score ${g.score}`);
        assert.ok(Math.abs(g.weight - weight) < 1e-9, `${name} weight ${g.weight}`);
      }
    });
  }
});

describe("scoring rules", () => {
  it("classifies at the edges: ≥ pass passes, ≤ marginal fails", () => {
    const t = { pass: 90, marginal: 75 };
    assert.equal(classifyScore(90, t), "Pass");
    assert.equal(classifyScore(89.99, t), "Marginal");
    assert.equal(classifyScore(75.01, t), "Marginal");
    assert.equal(classifyScore(75, t), "Fail");
    assert.equal(classifyScore(80, { pass: 80, marginal: 80 }), "Pass");
  });

  it("never gives unweighted groups a negative share", () => {
    const w = resolveWeights(["A", "B"], { A: 100, C: 20 });
    assert.equal(w.get("A"), 100);
    assert.equal(w.get("B"), 0);
  });

  it("counts weights of groups that have no metric, as Kayenta does", () => {
    const w = resolveWeights(["A", "B"], { C: 50 });
    assert.equal(w.get("A"), 25);
    assert.equal(w.get("B"), 25);
  });

  it("fails with nothing to score", () => {
    const r = scoreMetrics(
      [{ name: "a", groups: ["A"], label: "High", critical: false, muted: true }],
      {},
      { pass: 75, marginal: 50 },
    );
    assert.equal(r.score, 0);
    assert.equal(r.classification, "Fail");
    assert.equal(r.scored, 0);
  });

  it("names every critical failure", () => {
    const r = scoreMetrics(
      [
        { name: "errors", groups: ["E"], label: "High", critical: true },
        { name: "p99", groups: ["L"], label: "Nodata", critical: true },
      ],
      {},
      { pass: 75, marginal: 50 },
    );
    assert.equal(r.reason, "Canary Failed: critical metrics errors (High), p99 (Nodata)");
    assert.deepEqual(r.criticalFailures, ["errors", "p99"]);
  });
});
