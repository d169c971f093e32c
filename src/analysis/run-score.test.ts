import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSpec, SpecError } from "../spec/load.js";
import { AnalysisTemplate } from "../spec/schema.js";
import { MetricState } from "./metric-state.js";
import { scoreRun, scoringPlan } from "./run-score.js";

const template = AnalysisTemplate.parse({
  name: "golden",
  scoring: { pass: 90, marginal: 50 },
  metrics: [
    { name: "errors", count: 2, provider: { builtin: { signal: "errorRate" } } },
    { name: "latency", count: 2, provider: { builtin: { signal: "latencyP99" } } },
    {
      name: "orders",
      count: 2,
      provider: {
        prometheus: {
          address: "http://127.0.0.1:9090",
          counts: { events: "sum(orders)", requests: "sum(sessions)" },
        },
      },
      judge: { sequential: { direction: "decrease" } },
    },
  ],
});
const plan = scoringPlan(template, ["errors", "latency", "orders"])!;

/** States after the given measurements (phase per measurement, oldest first). */
function states(seen: Record<string, Array<"Successful" | "Failed" | "Inconclusive" | "Error">>) {
  return new Map(
    template.metrics.map((m) => {
      const s = new MetricState(m, 0, true);
      for (const [i, phase] of (seen[m.name] ?? []).entries())
        s.record(
          phase,
          phase === "Failed" ? "fail" : "continue",
          (i + 1) * 1000,
          `${m.name} ${phase}`,
        );
      return [m.name, s];
    }),
  );
}

describe("scoreRun", () => {
  it("waits until every counted metric has measured", () => {
    const v = scoreRun(plan, states({ errors: ["Successful"], latency: ["Successful"] }));
    assert.equal(v.phase, "Running");
    assert.equal(v.result, undefined);
    assert.match(v.message, /waiting for orders/);
  });

  it("groups default to one per metric, sharing 100 equally; a business rate fails Low", () => {
    const v = scoreRun(
      plan,
      states({ errors: ["Successful"], latency: ["Successful"], orders: ["Failed"] }),
    );
    assert.equal(v.result?.score, 66.67);
    assert.equal(v.phase, "Running", "66.67 is above marginal 50 and not everything has finished");
    assert.deepEqual(
      v.contributions.map((c) => `${c.metric} ${c.label} ${c.points}/${c.of}`),
      ["errors Pass 33.33/33.33", "latency Pass 33.33/33.33", "orders Low 0/33.33"],
    );
    const done = scoreRun(
      plan,
      states({
        errors: ["Successful", "Successful"],
        latency: ["Successful", "Successful"],
        orders: ["Failed"],
      }),
    );
    assert.equal(done.phase, "Inconclusive", "marginal once every metric has finished");
  });

  it("half the metrics inconclusive is a person's call, not a rollback", () => {
    const v = scoreRun(
      plan,
      states({
        errors: ["Inconclusive"],
        latency: ["Inconclusive"],
        orders: ["Successful", "Successful"],
      }),
    );
    assert.equal(v.phase, "Inconclusive");
    assert.match(v.message, /2 of 3 metrics inconclusive/);
    // Groups with nothing counted score 100 (Kayenta's rule), so one failed metric of three
    // leaves 66.67, above marginal: still a person's call, with the figure.
    const worse = scoreRun(
      plan,
      states({ errors: ["Inconclusive"], latency: ["Inconclusive"], orders: ["Failed"] }),
    );
    assert.equal(worse.phase, "Inconclusive");
    assert.match(worse.message, /score of golden 66\.67 .*orders Low 0\/33\.33/);
  });

  it("a metric whose provider is down puts the run in Error: it is no vote for the canary", () => {
    const v = scoreRun(
      plan,
      states({
        errors: ["Error", "Error", "Error", "Error", "Error"],
        latency: ["Successful"],
        orders: ["Successful"],
      }),
    );
    assert.equal(v.phase, "Error");
    assert.match(v.message, /^errors: errors Error$/);
  });
});

describe("a scored template in the spec", () => {
  const refused = (templates: string) => {
    try {
      parseSpec(`services:
  - name: shop
    match: { pathPrefix: /shop }
    stable: { version: v1, targets: [http://127.0.0.1:9001] }
analysisTemplates:
${templates}`);
    } catch (err) {
      assert.ok(err instanceof SpecError);
      return err.problems.map((p) => `${p.path}: ${p.message}`).join("\n");
    }
    return "";
  };

  it("refuses groups and critical without scoring, naming the field", () => {
    assert.match(
      refused(`  - name: t
    metrics:
      - { name: e, critical: true, provider: { builtin: { signal: errorRate } } }`),
      /analysisTemplates\[0\]\.metrics\[0\]\.critical: critical only counts in a scored template: give template t a scoring block/,
    );
  });

  it("refuses a weight for a group no counted metric is in, and weights over 100", () => {
    assert.match(
      refused(`  - name: t
    scoring: { groupWeights: { latncy: 40 } }
    metrics:
      - { name: e, groups: [errors], provider: { builtin: { signal: errorRate } } }
      - { name: l, groups: [latency], provider: { builtin: { signal: latencyP99 } } }`),
      /analysisTemplates\[0\]\.scoring\.groupWeights\.latncy: no metric of template t that counts is in group latncy \(groups: errors, latency\)/,
    );
    assert.match(
      refused(`  - name: t
    scoring: { groupWeights: { e: 60, l: 60 } }
    metrics:
      - { name: e, provider: { builtin: { signal: errorRate } } }
      - { name: l, provider: { builtin: { signal: latencyP99 } } }`),
      /groupWeights: the group weights add up to more than 100/,
    );
    assert.match(
      refused(`  - name: t
    scoring: { pass: 50, marginal: 70 }
    metrics:
      - { name: e, provider: { builtin: { signal: errorRate } } }`),
      /scoring\.pass: pass must be at least marginal/,
    );
  });

  it("takes a scored template with defaults pass 95, marginal 75", () => {
    assert.equal(
      refused(`  - name: t
    scoring: {}
    metrics:
      - { name: e, groups: [errors], critical: true, provider: { builtin: { signal: errorRate } } }`),
      "",
    );
    const t = AnalysisTemplate.parse({
      name: "t",
      scoring: {},
      metrics: [{ name: "e", provider: { builtin: { signal: "errorRate" } } }],
    });
    assert.deepEqual(t.scoring, { pass: 95, marginal: 75, groupWeights: {} });
  });
});
