import assert from "node:assert/strict";
import { test } from "node:test";
import { AnalysisTemplate } from "../spec/schema.js";
import { withTemplateAlpha } from "./alpha.js";

const builtin = (signal: "errorRate" | "latencyP99") => ({ builtin: { signal } });
const alphaOf = (m: { judge?: unknown }) =>
  (m.judge as { sequential?: { alpha?: number } }).sequential?.alpha;

test("template alpha: default 0.01, sequential alpha has no default", () => {
  const t = AnalysisTemplate.parse({
    name: "t",
    metrics: [{ name: "e", provider: builtin("errorRate") }],
  });
  assert.equal(t.alpha, 0.01);
  assert.equal(withTemplateAlpha(t).map(alphaOf)[0], 0.01);
  assert.throws(
    () => AnalysisTemplate.parse({ name: "t", alpha: 0.6, metrics: t.metrics }),
    /alpha/,
  );
});

test("template alpha is split across sequential metrics that can fail the run", () => {
  const t = AnalysisTemplate.parse({
    name: "t",
    alpha: 0.02,
    metrics: [
      { name: "errors", provider: builtin("errorRate") },
      { name: "latency", provider: builtin("latencyP99"), judge: { sequential: { margin: 0.2 } } },
      {
        name: "p99",
        provider: builtin("latencyP99"),
        judge: { threshold: { failureCondition: "result > 500" } },
      },
      { name: "shadow", provider: builtin("errorRate"), dryRun: true },
      { name: "own", provider: builtin("errorRate"), judge: { sequential: { alpha: 0.001 } } },
    ],
  });
  const [errors, latency, p99, shadow, own] = withTemplateAlpha(t);
  assert.equal(alphaOf(errors as never), 0.01);
  assert.equal(alphaOf(latency as never), 0.01);
  const lj = latency?.judge;
  assert.equal((lj as unknown as { sequential: { margin: number } }).sequential.margin, 0.2);
  assert.deepEqual(p99?.judge, t.metrics[2]?.judge);
  assert.equal(alphaOf(shadow as never), 0.02);
  assert.equal(alphaOf(own as never), 0.001);
});
