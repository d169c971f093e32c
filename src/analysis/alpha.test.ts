import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSpec, SpecError } from "../spec/load.js";
import { AnalysisTemplate } from "../spec/schema.js";
import { alphaBudget, withTemplateAlpha } from "./alpha.js";

const builtin = (signal: "errorRate" | "latencyP99") => ({ builtin: { signal } });
const alphaOf = (m: { judge?: unknown }) =>
  (m.judge as { sequential?: { alpha?: number } }).sequential?.alpha;

test("template alpha: default 0.01, sequential alpha has no default", () => {
  const t = AnalysisTemplate.parse({
    name: "t",
    metrics: [{ name: "e", provider: builtin("errorRate") }],
  });
  assert.equal(t.alpha, undefined);
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
  // The metric with its own α spends 0.001 of the template's 0.02; the other two share the rest.
  assert.equal(alphaOf(errors as never), (0.02 - 0.001) / 2);
  assert.equal(alphaOf(latency as never), (0.02 - 0.001) / 2);
  const lj = latency?.judge;
  assert.equal((lj as unknown as { sequential: { margin: number } }).sequential.margin, 0.2);
  assert.deepEqual(p99?.judge, t.metrics[2]?.judge);
  assert.equal(alphaOf(shadow as never), 0.02);
  assert.equal(alphaOf(own as never), 0.001);
});

test("a counts-mode metric without a judge is sequential and shares the template's alpha", () => {
  const t = AnalysisTemplate.parse({
    name: "t",
    metrics: [
      { name: "errors", provider: builtin("errorRate") },
      {
        name: "orders",
        provider: {
          prometheus: {
            address: "http://127.0.0.1:9090",
            counts: { events: "sum(orders)", requests: "sum(sessions)" },
          },
        },
      },
    ],
  });
  assert.deepEqual(alphaBudget(t).sharing, ["errors", "orders"]);
  assert.deepEqual(withTemplateAlpha(t).map(alphaOf), [0.005, 0.005]);
});

test("the spec refuses metric alphas that leave nothing of the template's alpha", () => {
  const spec = (alpha: string) => `services:
  - name: shop
    match: { pathPrefix: /shop }
    stable: { version: v1, targets: [http://127.0.0.1:9001] }
analysisTemplates:
  - name: golden
${alpha}
    metrics:
      - name: errors
        provider: { builtin: { signal: errorRate } }
        judge: { sequential: { alpha: 0.01 } }
      - name: latency
        provider: { builtin: { signal: latencyP99 } }
`;
  const refused = (text: string) => {
    try {
      parseSpec(text);
    } catch (err) {
      assert.ok(err instanceof SpecError);
      return err.problems.map((p) => `${p.path}: ${p.message}`).join("\n");
    }
    return "";
  };
  assert.match(
    refused(spec("")),
    /analysisTemplates\[0\]\.alpha: the metrics' own judge\.sequential\.alpha add up to 0\.01, leaving nothing of template golden's alpha 0\.01 for latency/,
  );
  assert.equal(refused(spec("    alpha: 0.02")), "");
  const [errors, latency] = withTemplateAlpha(
    parseSpec(spec("    alpha: 0.02")).analysisTemplates[0] as never,
  );
  assert.equal(alphaOf(errors as never), 0.01);
  assert.equal(alphaOf(latency as never), 0.01);
});
