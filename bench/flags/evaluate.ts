/**
 * In-process flag evaluation (src/flags/evaluate.ts): ns per evaluation of a boolean flag with
 * one targeting rule and a 5 % rollout, over contexts that exercise both paths (one in ten is
 * a beta tester the rule matches; the others are bucketed). The target for the Node provider
 * is at most 1 µs per evaluation. Median of 5 runs.
 *
 * Usage: npm run bench:flags-eval [-- --json]
 */

import { compileFlag, type EvaluationContext } from "../../src/flags/evaluate.js";
import { Flag } from "../../src/flags/schema.js";

const json = process.argv.includes("--json");
const RUNS = 5;
const N = 1_000_000;

const flag = compileFlag(
  Flag.parse({
    key: "new-checkout",
    type: "boolean",
    variants: { on: true, off: false },
    defaultVariant: "off",
    rules: [{ when: [{ attribute: "user-type", equals: "beta-tester" }], variant: "on" }],
    rollout: { variant: "on", percent: 5 },
  }),
);

// Made up front, as an application's contexts are: the loop measures evaluation only.
const contexts: EvaluationContext[] = Array.from({ length: 4096 }, (_, i) => ({
  targetingKey: `user-${(i * 7919) % 1_000_003}`,
  "user-type": i % 10 === 0 ? "beta-tester" : "customer",
  country: i % 3 === 0 ? "DE" : "FR",
}));

function run(): number {
  let on = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++)
    if (flag.evaluate(contexts[i & 4095] as EvaluationContext).value) on++;
  const ns = Number(process.hrtime.bigint() - t0) / N;
  if (on === 0) throw new Error("no context got the variant: the benchmark measures nothing");
  return ns;
}

run(); // warm-up: let V8 optimise the closures before measuring
const runs = Array.from({ length: RUNS }, run).sort((a, b) => a - b);
const nsPerEvaluation = runs[Math.floor(RUNS / 2)] as number;
if (json) console.log(JSON.stringify({ nsPerEvaluation, runs }));
else
  console.log(
    `flag evaluation (1 rule + 5 % rollout): ${nsPerEvaluation.toFixed(1)} ns/evaluation (median of ${RUNS} runs of ${N}; runs: ${runs.map((r) => r.toFixed(1)).join(", ")})`,
  );
