/**
 * The decision rules under test, each behind one small adapter that sees a simulated run one
 * interval (10 s) at a time and says when it would roll back.
 *
 * Aviary's judges are the real code (`src/analysis/judges/*`), fed Observations the way the
 * analysis runner feeds them: the sequential judges every 10 s with interval windows, the
 * relative rule every 10 s with cumulative windows, and the Mann-Whitney judge (when present)
 * with Kayenta's 1-minute points, judged every 5 minutes on the cumulative series. A rollback is
 * the first Failed measurement (failureLimit 0, the spec's default); Inconclusive and Error
 * measurements never roll back.
 *
 * The peers are re-implemented from their documentation (research §4), on the canary alone,
 * every 60 s over the last minute:
 * - Flagger: request-success-rate ≥ 99 % and request-duration p99 ≤ 500 ms; a check with either
 *   metric failing (or without data) is a failed check; roll back when failed checks reach the
 *   threshold, 5 (`FailedChecks >= threshold`).
 * - Argo Rollouts: success rate ≥ 95 %; roll back when failed measurements exceed failureLimit 3.
 *
 * @module
 */

import { DDSketch } from "@datadog/sketches-js";
import { createRelativeJudge } from "../../src/analysis/judges/relative.js";
import {
  createSequentialJudge,
  type SequentialInput,
} from "../../src/analysis/judges/sequential.js";
import type { Rng } from "../../src/analysis/stats/random.js";
import type { Judge, Observation } from "../../src/analysis/types.js";
import { JudgeConfig } from "../../src/spec/analysis.js";
import { CumulativeLatency, sampleWindowQuantile, type WindowPart } from "./latency.js";
import { INTERVAL_SEC, type ScenarioKind } from "./scenarios.js";

/** What one simulated interval holds (shared by every judge in the run). */
export interface IntervalData {
  /** Index of the interval; it covers [i·10 s, (i+1)·10 s). */
  i: number;
  nA: number;
  nB: number;
  eA: number;
  eB: number;
  stable: WindowPart;
  canary: WindowPart;
}

export interface Adapter {
  /** Sees one interval; true when the rule rolls back at the end of it. */
  step(iv: IntervalData): boolean;
}

export type AdapterFactory = (rng: Rng) => Adapter;

export interface JudgeSpec {
  name: string;
  /** Which scenarios it is meant for (A/A runs use every judge). */
  kinds: readonly ScenarioKind[];
  /** Runs of the Mann-Whitney judge are capped (it re-ranks the whole series at every check). */
  capped?: boolean;
  /** Only these scenarios (the seeds' rules are compared on a few, to keep the run short). */
  scenarios?: readonly string[];
  make: AdapterFactory;
}

const ms = (sec: number) => sec * 1000;

function observation(
  i: number,
  canary: Observation["canary"],
  stable: Observation["stable"],
): Observation {
  return {
    from: ms(i * INTERVAL_SEC),
    to: ms((i + 1) * INTERVAL_SEC),
    canary,
    ...(stable === undefined ? {} : { stable }),
  };
}

function failed(judge: Judge, o: Observation): boolean {
  return judge.judge(o, o.to).phase === "Failed";
}

export interface AviaryOptions {
  alpha: number;
  margin: number;
  priorScale: number;
  /** The sequential judge's `dispersion` and `restartEvery` (the defaults unless asked). */
  dispersion: "estimate" | "binomial";
  restartEvery: string;
  /** The judge's prior drift variance between arms, when not its default. */
  priorS2?: { errors?: number; latency?: number };
}

/** The sequential judge's settings in the benchmark: the spec's defaults but for the CLI's knobs. */
function settings(opts: AviaryOptions, extra: SequentialInput = {}): SequentialInput {
  // A rule that states its own margin (maxIncrease, maxRatio) is tested with margin 0, as in a spec.
  const ownMargin = extra.maxIncrease !== undefined || extra.maxRatio !== undefined;
  return {
    alpha: opts.alpha,
    ...(ownMargin ? {} : { margin: opts.margin }),
    absoluteMargin: 0.002,
    minBakeTime: "5m",
    dispersion: opts.dispersion,
    restartEvery: opts.restartEvery,
    ...extra,
  };
}

function sequentialErrors(opts: AviaryOptions, extra?: SequentialInput): AdapterFactory {
  return () => {
    const judge = createSequentialJudge(settings(opts, extra), "errors", {
      priorScale: opts.priorScale,
      ...(opts.priorS2?.errors === undefined ? {} : { priorS2: opts.priorS2.errors }),
    });
    return {
      step: (iv) =>
        failed(
          judge,
          observation(
            iv.i,
            { value: null, requests: iv.nB, errors: iv.eB },
            { value: null, requests: iv.nA, errors: iv.eA },
          ),
        ),
    };
  };
}

function sequentialLatency(opts: AviaryOptions, extra?: SequentialInput): AdapterFactory {
  return (rng) => {
    const judge = createSequentialJudge(settings(opts, extra), "latency", {
      priorScale: opts.priorScale,
      ...(opts.priorS2?.latency === undefined ? {} : { priorS2: opts.priorS2.latency }),
    });
    return {
      step(iv) {
        const edges = judge.slowEdgesMs;
        if (edges.length === 0) {
          // The first window: the provider hands over the stable latency sketch; the judge fixes its edge.
          const sketch = new DDSketch();
          for (let k = 0; k < iv.nA; k++)
            sketch.accept(iv.stable.table.sample(rng, iv.stable.lnScale));
          return failed(
            judge,
            observation(
              iv.i,
              { value: null, requests: iv.nB },
              { value: null, requests: iv.nA, sketch },
            ),
          );
        }
        // One draw per edge and arm; the judge reads the edges it asked for (with maxRatio, the
        // canary beyond the wider one).
        const slowA = edges.map((e) =>
          rng.binomial(iv.nA, iv.stable.table.slowerThan(e, iv.stable.lnScale)),
        );
        const slowB = edges.map((e) =>
          rng.binomial(iv.nB, iv.canary.table.slowerThan(e, iv.canary.lnScale)),
        );
        return failed(
          judge,
          observation(
            iv.i,
            { value: null, requests: iv.nB, slow: slowB },
            { value: null, requests: iv.nA, slow: slowA },
          ),
        );
      },
    };
  };
}

function relativeErrors(): AdapterFactory {
  return () => {
    const judge = createRelativeJudge({ maxIncrease: 0.02, minSamples: 200 }, "rate");
    const sum = { nA: 0, nB: 0, eA: 0, eB: 0 };
    return {
      step(iv) {
        sum.nA += iv.nA;
        sum.nB += iv.nB;
        sum.eA += iv.eA;
        sum.eB += iv.eB;
        return failed(
          judge,
          observation(
            iv.i,
            { value: sum.nB > 0 ? sum.eB / sum.nB : null, requests: sum.nB, errors: sum.eB },
            { value: sum.nA > 0 ? sum.eA / sum.nA : null, requests: sum.nA, errors: sum.eA },
          ),
        );
      },
    };
  };
}

function relativeLatency(): AdapterFactory {
  return (rng) => {
    const judge = createRelativeJudge({ maxRatio: 1.5, minSamples: 200 }, "latency");
    const a = new CumulativeLatency();
    const b = new CumulativeLatency();
    return {
      step(iv) {
        a.add(iv.stable);
        b.add(iv.canary);
        // Below minSamples the judge is Inconclusive whatever the values: skip drawing them.
        const p99 = (c: CumulativeLatency) =>
          c.n > 0 && b.n >= 200 ? c.sampleQuantile(rng, 0.99) : null;
        return failed(
          judge,
          observation(iv.i, { value: p99(b), requests: b.n }, { value: p99(a), requests: a.n }),
        );
      },
    };
  };
}

type MannWhitneyFactory = (config: unknown) => Judge;

const MW_POINT_INTERVALS = 6; // one point per minute
const MW_CHECK_INTERVALS = 30; // judged every 5 minutes

function mannWhitney(create: MannWhitneyFactory, kind: "errors" | "latency"): AdapterFactory {
  const parsed = JudgeConfig.parse({ mannWhitney: {} });
  const config = "mannWhitney" in parsed ? parsed.mannWhitney : undefined;
  return (rng) => {
    const judge = create(config);
    const canary: number[] = [];
    const stable: number[] = [];
    let window: IntervalData[] = [];
    return {
      step(iv) {
        window.push(iv);
        if (window.length === MW_POINT_INTERVALS) {
          if (kind === "errors") {
            const rate = (e: number, n: number) => (n > 0 ? e / n : Number.NaN);
            canary.push(rate(sumOf(window, "eB"), sumOf(window, "nB")));
            stable.push(rate(sumOf(window, "eA"), sumOf(window, "nA")));
          } else {
            canary.push(
              sampleWindowQuantile(
                rng,
                window.map((w) => w.canary),
                0.99,
              ),
            );
            stable.push(
              sampleWindowQuantile(
                rng,
                window.map((w) => w.stable),
                0.99,
              ),
            );
          }
          window = [];
        }
        if ((iv.i + 1) % MW_CHECK_INTERVALS !== 0) return false;
        return failed(
          judge,
          observation(
            iv.i,
            { value: null, series: [...canary] },
            { value: null, series: [...stable] },
          ),
        );
      },
    };
  };
}

function sumOf(window: readonly IntervalData[], key: "nA" | "nB" | "eA" | "eB"): number {
  let s = 0;
  for (const w of window) s += w[key];
  return s;
}

const PEER_INTERVALS = 6; // every 60 s, over the last minute

function flagger(): AdapterFactory {
  return (rng) => {
    let failedChecks = 0;
    let window: IntervalData[] = [];
    return {
      step(iv) {
        window.push(iv);
        if (window.length < PEER_INTERVALS) return false;
        const n = sumOf(window, "nB");
        const successPct = n > 0 ? 100 * (1 - sumOf(window, "eB") / n) : Number.NaN;
        const p99 = sampleWindowQuantile(
          rng,
          window.map((w) => w.canary),
          0.99,
        );
        window = [];
        const ok = successPct >= 99 && p99 <= 500;
        if (!ok) failedChecks++;
        return failedChecks >= 5;
      },
    };
  };
}

function argo(): AdapterFactory {
  return () => {
    let failures = 0;
    let window: IntervalData[] = [];
    return {
      step(iv) {
        window.push(iv);
        if (window.length < PEER_INTERVALS) return false;
        const n = sumOf(window, "nB");
        const success = n > 0 ? 1 - sumOf(window, "eB") / n : Number.NaN;
        window = [];
        if (!(success >= 0.95)) failures++;
        return failures > 3;
      },
    };
  };
}

/** Where the seeds' rules as margins are compared with the raw rules. */
const SEED_RULE_SCENARIOS = [
  "A/A",
  "A/A harsh",
  "A/A noise 0.2",
  "errors ×2",
  "errors ×5",
  "latency ×1.5",
  "latency ×2",
  "latency tail",
];

/** Every judge of the benchmark; the Mann-Whitney ones only when its module loads. */
export async function judgeSpecs(
  opts: AviaryOptions,
): Promise<{ specs: JudgeSpec[]; notes: string[] }> {
  const notes: string[] = [];
  const specs: JudgeSpec[] = [
    { name: "aviary sequential errors", kinds: ["aa", "errors"], make: sequentialErrors(opts) },
    { name: "aviary sequential latency", kinds: ["aa", "latency"], make: sequentialLatency(opts) },
    { name: "relative +2pp (min 200)", kinds: ["aa", "errors"], make: relativeErrors() },
    { name: "relative p99 ×1.5 (min 200)", kinds: ["aa", "latency"], make: relativeLatency() },
    // The seeds' two rules, as the raw comparisons above and as anytime-valid margins.
    {
      name: "aviary sequential +2pp",
      kinds: ["aa", "errors"],
      scenarios: SEED_RULE_SCENARIOS,
      make: sequentialErrors(opts, { maxIncrease: 0.02 }),
    },
    {
      name: "aviary sequential p99 ×1.5",
      kinds: ["aa", "latency"],
      scenarios: SEED_RULE_SCENARIOS,
      make: sequentialLatency(opts, { maxRatio: 1.5 }),
    },
  ];
  try {
    const mod = (await import("../../src/analysis/judges/mann-whitney.js")) as {
      createMannWhitneyJudge?: MannWhitneyFactory;
    };
    const create = mod.createMannWhitneyJudge;
    if (typeof create !== "function") throw new Error("no createMannWhitneyJudge export");
    specs.push(
      {
        name: "mann-whitney errors (5m)",
        kinds: ["aa", "errors"],
        capped: true,
        make: mannWhitney(create, "errors"),
      },
      {
        name: "mann-whitney p99 (5m)",
        kinds: ["aa", "latency"],
        capped: true,
        make: mannWhitney(create, "latency"),
      },
    );
  } catch (err) {
    notes.push(`Mann-Whitney judge skipped: ${(err as Error).message}`);
  }
  specs.push(
    {
      name: "flagger (99 %, p99 500ms, 5 checks)",
      kinds: ["aa", "errors", "latency"],
      make: flagger(),
    },
    { name: "argo (95 %, failureLimit 3)", kinds: ["aa", "errors"], make: argo() },
  );
  return { specs, notes };
}
