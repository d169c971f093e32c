/**
 * In-process evaluation: ns per evaluation through an `evaluate(flagKey, context)` callback, so
 * the same loop can time the compiled evaluator today and the Node OpenFeature provider later.
 * The contexts (distinct targeting keys, every tenth a beta tester) are made up front, as an
 * application's are, and the `true` answers are counted against the flag's own rule so that a
 * callback that answers wrongly, or whose work V8 could drop, is caught rather than timed.
 *
 * @module
 */

import type { EvaluationContext } from "../../src/flags/evaluate.js";
import { median } from "../proxy/stats.js";
import { contextOf, expectedOn } from "./flag-set.js";

export type Evaluate = (flagKey: string, ctx: EvaluationContext) => unknown;

export interface InProcessOptions {
  flagKey: string;
  /** What the flag answers for user n (1 for true), to check the callback's answers. */
  expect: (n: number) => number;
  /** Distinct contexts cycled through (a power of two). */
  contexts?: number;
  /** Evaluations per run. */
  evaluations?: number;
  runs?: number;
}

export interface InProcessResult {
  nsPerEvaluation: number;
  runs: number[];
  contexts: number;
}

export function measureInProcess(evaluate: Evaluate, o: InProcessOptions): InProcessResult {
  const size = o.contexts ?? 65_536;
  if ((size & (size - 1)) !== 0) throw new Error(`contexts must be a power of two, got ${size}`);
  const n = o.evaluations ?? 2_000_000;
  const contexts = Array.from({ length: size }, (_, i) => contextOf(i + 1));
  const perCycle = expectedOn(o.expect, 0, size);
  const mask = size - 1;
  const run = (): number => {
    let on = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++)
      if (evaluate(o.flagKey, contexts[i & mask] as EvaluationContext) === true) on++;
    const ns = Number(process.hrtime.bigint() - t0) / n;
    const want = Math.floor(n / size) * perCycle + expectedOn(o.expect, 0, n % size);
    if (on !== want)
      throw new Error(`in-process evaluation: ${on} true answers where the flag gives ${want}`);
    return ns;
  };
  run(); // warm-up: V8 optimises the callback and the evaluator before anything is timed
  const runs = Array.from({ length: o.runs ?? 5 }, run);
  return { nsPerEvaluation: median(runs), runs, contexts: size };
}
