/**
 * One simulated rollout: 360 intervals of 10 s at a fixed canary weight, drawn once and shown
 * to every judge in the same order.
 *
 * Per interval: requests ~ Poisson(rps × 10 s), split by Binomial(weight); a shared shock
 * S ~ Gamma(mean 1, CV 0.3) multiplies both arms' error rates (and their latencies by √S); in the
 * harsh case each arm also gets its own shock (CV 0.2). Errors ~ Binomial(requests, rate). The
 * error and request counts are literally shared by all judges; latency summaries (slow counts,
 * p99s) are drawn per judge from the interval's latency distributions, exact in law, because
 * drawing every request's latency at 1,000 requests/s would be too slow.
 *
 * "Bad requests" is the expected excess served by the canary before the decision:
 * Σ N_canary × (p_canary − p_stable) per interval, with the interval's true (shocked) rates; for
 * latency, the excess share slower than the stable's nominal p99 × 1.5.
 *
 * @module
 */

import { Rng, seedOf } from "../../src/analysis/stats/random.js";
import type { IntervalData, JudgeSpec } from "./judges.js";
import { BASE_LATENCY, LatencyTable, type LognormalPart, scaled, tailSlowed } from "./latency.js";
import {
  type Cell,
  cellKey,
  INTERVAL_SEC,
  INTERVALS,
  LATENCY_SHOCK_POWER,
  type Scenario,
  SHARED_SHOCK_CV,
  scenarioNamed,
} from "./scenarios.js";

export interface Outcome {
  /** Seconds from the start to the rollback, or null when the judge never rolled back. */
  decidedAt: number | null;
  /** Expected excess bad requests the canary served before the decision (to the horizon if none). */
  bad: number;
}

const tables = new Map<string, LatencyTable>();

function cached(key: string, parts: () => readonly LognormalPart[]): LatencyTable {
  let t = tables.get(key);
  if (t === undefined) {
    t = new LatencyTable(parts());
    tables.set(key, t);
  }
  return t;
}

function tableFor(s: Scenario | undefined): LatencyTable {
  const key = s === undefined ? "base" : JSON.stringify(s.latency);
  return cached(key, () =>
    s === undefined || s.latency.type === "none"
      ? BASE_LATENCY
      : s.latency.type === "median"
        ? scaled(BASE_LATENCY, s.latency.factor)
        : tailSlowed(BASE_LATENCY, s.latency.share, s.latency.factor),
  );
}

/** The stable fleet while its bad pod is bad: a mixture with that pod's share slowed. */
function badPodTable(pods: number, factor: number): LatencyTable {
  return cached(`badPod|${pods}|${factor}`, () => tailSlowed(BASE_LATENCY, 1 / pods, factor));
}

function coldTable(factor: number): LatencyTable {
  return cached(`cold|${factor}`, () => scaled(BASE_LATENCY, factor));
}

/** Runs judges `specs` (already filtered to the scenario) on run number `run` of `cell`. */
export function simulateRun(cell: Cell, run: number, specs: readonly JudgeSpec[]): Outcome[] {
  const scenario = scenarioNamed(cell.scenario);
  const key = `${cellKey(cell)}#${run}`;
  const rng = new Rng(seedOf(key));
  const adapters = specs.map((s) => s.make(new Rng(seedOf(`${key}#${s.name}`))));
  const outcomes: Outcome[] = specs.map(() => ({ decidedAt: null, bad: 0 }));
  const base = tableFor(undefined);
  const bad = tableFor(scenario);
  const badEdgeMs = base.quantile(0.99) * 1.5;
  const onsetInterval = Math.round(scenario.onsetSec / INTERVAL_SEC);
  let open = specs.length;
  const lambda = cell.rps * INTERVAL_SEC;
  // The fleet families draw from their own stream, so the older scenarios keep their numbers.
  const fleet = new Rng(seedOf(`${key}#fleet`));
  const { badPod, cold, diurnalPeriodSec, weightSteps } = scenario;
  let podBad = badPod !== undefined && fleet.next() < 0.5;
  const switchChance = badPod === undefined ? 0 : INTERVAL_SEC / badPod.burstSec;

  for (let i = 0; i < INTERVALS && open > 0; i++) {
    const active = i >= onsetInterval;
    const t = i * INTERVAL_SEC;
    const level =
      diurnalPeriodSec === undefined ? 1 : 2 ** Math.sin((2 * Math.PI * t) / diurnalPeriodSec);
    const weight =
      weightSteps === undefined
        ? cell.weight
        : (weightSteps.weights[
            Math.min(weightSteps.weights.length - 1, Math.floor(t / weightSteps.stageSec))
          ] as number);
    const n = rng.poisson(lambda * level);
    const nB = rng.binomial(n, weight);
    const nA = n - nB;
    const shock = rng.shock(SHARED_SHOCK_CV);
    const armA = rng.shock(scenario.armNoiseCv);
    const armB = rng.shock(scenario.armNoiseCv);
    let stableFactor = 1;
    if (badPod !== undefined) {
      if (fleet.next() < switchChance) podBad = !podBad;
      if (podBad && nA > 0) {
        const share = fleet.binomial(nA, 1 / badPod.pods) / nA;
        stableFactor = 1 + (badPod.errorFactor - 1) * share;
      }
    }
    const pA = Math.min(1, cell.baseErrorRate * shock * armA * stableFactor);
    const pB = Math.min(
      1,
      cell.baseErrorRate * (active ? scenario.errorMultiplier : 1) * shock * armB,
    );
    const eA = rng.binomial(nA, pA);
    const eB = rng.binomial(nB, pB);
    const lnScaleA = LATENCY_SHOCK_POWER * Math.log(shock * armA);
    const lnScaleB = LATENCY_SHOCK_POWER * Math.log(shock * armB);
    const warm = cold === undefined || t >= cold.sec;
    const canaryTable = !warm
      ? coldTable((cold as { latencyFactor: number }).latencyFactor)
      : active
        ? bad
        : base;
    const stableTable =
      badPod !== undefined && podBad ? badPodTable(badPod.pods, badPod.latencyFactor) : base;
    const iv: IntervalData = {
      i,
      nA,
      nB,
      eA,
      eB,
      stable: { n: nA, table: stableTable, lnScale: lnScaleA },
      canary: { n: nB, table: canaryTable, lnScale: lnScaleB },
    };
    let excess = 0;
    if (active && scenario.kind === "errors") excess = nB * (pB - pA);
    else if (active && scenario.kind === "latency") {
      excess =
        nB * (canaryTable.slowerThan(badEdgeMs, lnScaleB) - base.slowerThan(badEdgeMs, lnScaleA));
    }
    for (let j = 0; j < adapters.length; j++) {
      const o = outcomes[j] as Outcome;
      if (o.decidedAt !== null) continue;
      o.bad += excess;
      if ((adapters[j] as { step(iv: IntervalData): boolean }).step(iv)) {
        o.decidedAt = (i + 1) * INTERVAL_SEC;
        open--;
      }
    }
  }
  return outcomes;
}
