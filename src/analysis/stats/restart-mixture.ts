/**
 * A mixture of rate-ratio e-processes started at different times, so that a regression that
 * begins late in a long run is caught about as fast as one present from the start.
 *
 * Why. One e-process over the whole run weighs every interval alike. After twenty healthy minutes
 * its likelihood ratios for a real regression are deep below zero (the data said "no difference"
 * for twenty minutes), and a ×2 regression that then starts needs as long again to climb out:
 * the decision benchmark measured 18 minutes from the onset at 100 requests/s and a 5 % canary.
 *
 * How. Component j starts counting at the run's start + j × `everyMs` and sees only the data
 * from then on; each is an e-process for the same null (one-sided rate ratio beyond the margin),
 * so each is a nonnegative supermartingale from its start, equal to 1 before it. A fixed convex
 * combination of them, Σ w_j E_j with Σ w_j ≤ 1, is one too, and Ville's inequality bounds the
 * chance that it ever reaches 1/α by α: the guarantee is unchanged, and a late regression meets
 * a component that did not see the healthy stretch, at the price of its weight (log 1/w_j).
 *
 * Weights: w_0 = 1/2 (the whole-run process keeps most of the weight: a regression present
 * from the start loses only log 2); w_j = 1/(2 j (j + 1)) for j ≥ 1, which sums to 1/2 however
 * long the run lasts. Only the whole-run component and the newest {@link ACTIVE_RESTARTS}
 * restarts are updated; an older restart is frozen at its last value (a stopped supermartingale
 * is still one), which bounds the work per interval.
 *
 * @module
 */

import { RateRatioEProcess, type RateRatioGrid } from "./rate-ratio.js";

/** Restarts kept live besides the whole-run component. */
export const ACTIVE_RESTARTS = 3;

export interface ComponentState {
  /** 0 for the whole-run component, j for the one starting at start + j × every. */
  j: number;
  /** Accumulated log-likelihood ratios (live components). */
  L?: number[];
  /** log E at the time it was frozen (frozen components). */
  frozenLogE?: number;
}

export interface RestartMixtureState {
  everyMs: number;
  /** Start of the first window (epoch ms). */
  origin: number | null;
  components: ComponentState[];
}

interface Component {
  j: number;
  logWeight: number;
  process: RateRatioEProcess | null;
  frozenLogE: number;
}

/** log w_j. */
export function restartLogWeight(j: number): number {
  return j === 0 ? Math.log(0.5) : -Math.log(2 * j * (j + 1));
}

export class RestartMixture {
  readonly grid: RateRatioGrid;
  /** 0: no restarts, the whole-run e-process alone (its weight is then 1). */
  readonly everyMs: number;
  #origin: number | null = null;
  #components: Component[] = [];

  constructor(grid: RateRatioGrid, everyMs: number) {
    if (!(everyMs >= 0 && Number.isFinite(everyMs)))
      throw new RangeError(`restart period must be ≥ 0 ms, got ${everyMs}`);
    this.grid = grid;
    this.everyMs = everyMs;
    this.#components = [this.#component(0)];
  }

  #component(j: number): Component {
    return {
      j,
      logWeight: this.everyMs === 0 ? 0 : restartLogWeight(j),
      process: new RateRatioEProcess(this.grid),
      frozenLogE: 0,
    };
  }

  /** The whole-run e-process (its confidence sequence decides early passes). */
  get whole(): RateRatioEProcess {
    return this.#components[0]?.process as RateRatioEProcess;
  }

  /**
   * Starts whatever components are due at a window starting at `from` (epoch ms), then adds its
   * counts to every live component, each log-likelihood ratio × `weight` and at most `cap`
   * (see {@link RateRatioEProcess.update}).
   */
  update(from: number, eA: number, eB: number, rho: number, weight = 1, cap?: number): void {
    if (this.#origin === null) this.#origin = from;
    if (this.everyMs > 0) {
      const due = Math.floor((from - this.#origin) / this.everyMs);
      let newest = (this.#components.at(-1) as Component).j;
      if (newest < due) {
        while (newest < due) {
          newest++;
          this.#components.push(this.#component(newest));
        }
        const live = this.#components.filter((c) => c.j > 0 && c.process !== null);
        for (const c of live.slice(0, Math.max(0, live.length - ACTIVE_RESTARTS))) {
          c.frozenLogE = (c.process as RateRatioEProcess).logE();
          c.process = null;
        }
      }
    }
    // One interval's increments are the same for every component: computed once.
    const inc = this.whole.increments(eA, eB, rho, weight, cap);
    if (inc !== null) for (const c of this.#components) c.process?.add(inc);
  }

  /** log Σ w_j E_j. */
  logE(): number {
    // log Σ exp(term), without an array per call (this runs every interval).
    let max = Number.NEGATIVE_INFINITY;
    for (const c of this.#components) max = Math.max(max, this.#term(c));
    if (!Number.isFinite(max)) return max;
    let sum = 0;
    for (const c of this.#components) sum += Math.exp(this.#term(c) - max);
    return max + Math.log(sum);
  }

  #term(c: Component): number {
    return c.logWeight + (c.process === null ? c.frozenLogE : c.process.logE());
  }

  /** Which component carries the most of the mixture now, and since when (ms from the origin). */
  leading(): { j: number; sinceMs: number } {
    let best = this.#components[0] as Component;
    let bestTerm = Number.NEGATIVE_INFINITY;
    for (const c of this.#components) {
      const term = this.#term(c);
      if (term > bestTerm) {
        bestTerm = term;
        best = c;
      }
    }
    return { j: best.j, sinceMs: best.j * this.everyMs };
  }

  snapshot(): RestartMixtureState {
    return {
      everyMs: this.everyMs,
      origin: this.#origin,
      components: this.#components.map((c) =>
        c.process === null
          ? { j: c.j, frozenLogE: c.frozenLogE }
          : { j: c.j, L: c.process.snapshot() },
      ),
    };
  }

  load(s: RestartMixtureState): void {
    if (s.everyMs !== this.everyMs)
      throw new RangeError(`saved with restarts every ${s.everyMs} ms, not ${this.everyMs} ms`);
    if (!(s.origin === null || Number.isFinite(s.origin))) throw new RangeError("bad origin");
    if (!Array.isArray(s.components) || s.components.length === 0 || s.components[0]?.j !== 0)
      throw new RangeError("the whole-run component is missing");
    const components: Component[] = [];
    for (const [i, saved] of s.components.entries()) {
      if (saved.j !== i) throw new RangeError(`component ${i} is out of order`);
      const c = this.#component(saved.j);
      if (saved.L !== undefined) (c.process as RateRatioEProcess).load(saved.L);
      else if (typeof saved.frozenLogE === "number" && Number.isFinite(saved.frozenLogE)) {
        c.process = null;
        c.frozenLogE = saved.frozenLogE;
      } else throw new RangeError(`component ${i} has neither L nor a frozen value`);
      components.push(c);
    }
    this.#origin = s.origin;
    this.#components = components;
  }
}
