/**
 * An anytime-valid test of "the canary's event rate is at most (1 + margin) × the baseline's",
 * for event counts (errors, slow requests) reported per interval while the canary's traffic
 * share changes (research §5(c)1).
 *
 * Model. Within interval t the canary served a share ρ_t = N_B/(N_A + N_B) of the requests.
 * If the canary's event rate is e^δ times the baseline's, then given the interval's total events
 * n_t = e_A + e_B, each event is the canary's with probability θ_t(δ) = ρ_t e^δ / (ρ_t e^δ + 1 − ρ_t),
 * whatever the common rate did (load, diurnal swings, a downstream outage hitting both arms):
 * the common rate cancels. So the test needs only the four counts of each interval.
 *
 * Statistic. Over a grid of δ the process keeps the log-likelihood ratio against δ₀ = log(1+margin),
 *   L_g += e_B log(θ_t(δ_g)/θ_t(δ₀)) + e_A log((1 − θ_t(δ_g))/(1 − θ_t(δ₀)))
 *        = e_B (δ_g − δ₀) − n_t [log(1 + ρ_t(e^δ_g − 1)) − log(1 + ρ_t(e^δ₀ − 1))],
 * and the e-value is E_t = Σ_g π_g exp(L_g) over a prior π on δ_g > δ₀. Each interval's factor
 * is a likelihood ratio whose expectation given (n_t, ρ_t) is ≤ 1 when δ ≤ δ₀, so E_t is a
 * nonnegative supermartingale under the null across the whole run, weight changes included, and
 * P(ever E_t ≥ 1/α) ≤ α (Ville). With a constant share it is the one-sided Beta-mixture Bayes
 * factor of research §2.2 with a different prior. How exact: with Poisson arrivals the conditional
 * law is exactly binomial; with a fixed number of requests per arm and equal rates it is
 * hypergeometric, which is smaller than the binomial in convex order (Hoeffding 1963), and the
 * factor is convex in e_B, so the expectation is still ≤ 1.
 *
 * Confidence sequence. Over the same grid with a two-sided prior (normal, centred on 0) the
 * mixture m_t = Σ π'_g exp(L_g) gives, for every δ, the e-value m_t / exp(L(δ)) against "the
 * ratio is e^δ"; the δ it has not rejected at 1/α form a confidence sequence, valid at all times
 * at once. The log-likelihood is concave in δ, so the set is an interval; the grid brackets its
 * ends from outside (an upper bound is the first rejected grid point above the accepted ones).
 *
 * @module
 */

import { logSumExp } from "./logsumexp.js";

export interface RateRatioGridOptions {
  /** The null's log rate ratio, log(1 + margin). */
  delta0: number;
  /** Grid half-width in δ (default log 20: ratios from 1/20 to 20). */
  maxDelta?: number;
  /** Grid spacing in δ (default 0.03: 201 points from ratio 1/20 to 20). */
  step?: number;
  /** Standard deviation of the normal prior on δ (default 1), truncated to δ > δ₀ for the test. */
  priorScale?: number;
  /**
   * Which side fails: "increase" (default) tests "ratio ≤ e^δ₀" with the prior on δ > δ₀ (errors,
   * slow requests); "decrease" tests "ratio ≥ e^δ₀" with the prior on δ < δ₀ (a rate that must
   * not fall: orders per session).
   */
  direction?: "increase" | "decrease";
}

export interface RateRatioGrid {
  delta0: number;
  direction: "increase" | "decrease";
  /** Grid points, increasing. */
  deltas: Float64Array;
  /** log π_g of the test's prior; −∞ for points at or below δ₀; log-sums to 0. */
  failLogPrior: Float64Array;
  /** log π'_g of the confidence sequence's two-sided prior; log-sums to 0. */
  twoSidedLogPrior: Float64Array;
}

/** The standard grid: δ from −maxDelta to maxDelta, normal priors of scale `priorScale`. */
export function standardGrid(options: RateRatioGridOptions): RateRatioGrid {
  const { delta0 } = options;
  const direction = options.direction ?? "increase";
  const maxDelta = options.maxDelta ?? Math.log(20);
  const step = options.step ?? 0.03;
  const scale = options.priorScale ?? 1;
  const inRange =
    direction === "increase" ? delta0 >= 0 && delta0 < maxDelta : delta0 <= 0 && delta0 > -maxDelta;
  if (!(Number.isFinite(delta0) && inRange)) {
    const range = direction === "increase" ? `[0, ${maxDelta})` : `(${-maxDelta}, 0]`;
    throw new RangeError(`δ₀ must be in ${range} for direction ${direction}, got ${delta0}`);
  }
  if (!(step > 0 && scale > 0)) throw new RangeError("grid step and prior scale must be > 0");
  const n = Math.floor((2 * maxDelta) / step + 1e-9) + 1;
  const deltas = new Float64Array(n);
  for (let g = 0; g < n; g++) deltas[g] = -maxDelta + g * step;
  const logDensity = (d: number) => (-0.5 * d * d) / (scale * scale);
  const fail = new Float64Array(n);
  const two = new Float64Array(n);
  for (let g = 0; g < n; g++) {
    const d = deltas[g] as number;
    const failing = direction === "increase" ? d > delta0 : d < delta0;
    fail[g] = failing ? logDensity(d) : Number.NEGATIVE_INFINITY;
    two[g] = logDensity(d);
  }
  return {
    delta0,
    direction,
    deltas,
    failLogPrior: normalise(fail),
    twoSidedLogPrior: normalise(two),
  };
}

/** Shifts log-weights so they log-sum to 0. */
export function normalise(logWeights: Float64Array): Float64Array {
  const total = logSumExp(logWeights);
  if (!Number.isFinite(total))
    throw new RangeError("a prior needs at least one point of positive weight");
  return logWeights.map((w) => w - total);
}

/** Bounds on δ (the log rate ratio); ±∞ when the grid cannot bound that side. */
export interface DeltaBounds {
  lower: number;
  upper: number;
}

export class RateRatioEProcess {
  readonly grid: RateRatioGrid;
  /** L_g: log-likelihood ratio of δ_g against δ₀ accumulated so far. */
  readonly #L: Float64Array;
  readonly #expm1: Float64Array;
  readonly #gap: Float64Array;
  readonly #expm1Delta0: number;
  /** The test's prior is −∞ outside [#failFrom, #failTo). */
  readonly #failFrom: number;
  readonly #failTo: number;
  /** Memos of logE and the confidence sequence, cleared whenever L changes. */
  #logE: number | undefined;
  #cs: { alpha: number; bounds: DeltaBounds } | undefined;
  #estimate: number | undefined;
  /** Reused by {@link increments}: one interval's increments, without an allocation each time. */
  readonly #scratch: Float64Array;

  constructor(grid: RateRatioGrid) {
    const n = grid.deltas.length;
    if (grid.failLogPrior.length !== n || grid.twoSidedLogPrior.length !== n) {
      throw new RangeError("grid and priors differ in length");
    }
    this.grid = grid;
    this.#L = new Float64Array(n);
    this.#scratch = new Float64Array(n);
    this.#expm1 = grid.deltas.map(Math.expm1);
    this.#gap = grid.deltas.map((d) => d - grid.delta0);
    this.#expm1Delta0 = Math.expm1(grid.delta0);
    const first = grid.failLogPrior.findIndex((w) => w > Number.NEGATIVE_INFINITY);
    const last = grid.failLogPrior.findLastIndex((w) => w > Number.NEGATIVE_INFINITY);
    this.#failFrom = first < 0 ? n : first;
    this.#failTo = last + 1;
  }

  /**
   * Adds one interval: `eA` events among the baseline's requests, `eB` among the canary's, the
   * canary serving the share `rho` of the interval's requests. Counts may be fractional (rates ×
   * time from Prometheus). An interval with no events, or with a share of 0 or 1, carries no
   * information about the ratio and changes nothing. `weight` ≤ 1 scales the interval's
   * log-likelihood ratios: 1/φ for counts φ times more variable than binomial, the
   * quasi-likelihood of `split-dispersion.ts` (φ fixed before the interval's events are read).
   * `cap` bounds what one interval can add to each log-likelihood ratio: min(factor, e^cap) has
   * a smaller expectation than the factor, so the process stays a supermartingale under the null,
   * and one freak interval (a pod's hiccup on one arm) cannot carry a rollback alone.
   */
  update(eA: number, eB: number, rho: number, weight = 1, cap = Number.POSITIVE_INFINITY): void {
    const inc = this.increments(eA, eB, rho, weight, cap);
    if (inc !== null) this.add(inc);
  }

  /**
   * What {@link update} adds to each grid point for one interval, or null when the interval
   * carries no information; shared by processes on the same grid (the restart mixture). The
   * array is this process's scratch space, valid until its next call.
   */
  increments(
    eA: number,
    eB: number,
    rho: number,
    weight = 1,
    cap = Number.POSITIVE_INFINITY,
  ): Float64Array | null {
    if (!(eA >= 0 && eB >= 0 && Number.isFinite(eA) && Number.isFinite(eB))) {
      throw new RangeError(`event counts must be finite and ≥ 0, got ${eA} and ${eB}`);
    }
    if (!(rho >= 0 && rho <= 1))
      throw new RangeError(`the canary share must be in [0, 1], got ${rho}`);
    if (!(weight > 0 && weight <= 1))
      throw new RangeError(`weight must be in (0, 1], got ${weight}`);
    const n = eA + eB;
    if (n === 0 || rho === 0 || rho === 1) return null;
    const logD0 = Math.log1p(rho * this.#expm1Delta0);
    const gap = this.#gap;
    const em1 = this.#expm1;
    const inc = this.#scratch;
    for (let g = 0; g < inc.length; g++) {
      const l =
        weight * (eB * (gap[g] as number) - n * (Math.log1p(rho * (em1[g] as number)) - logD0));
      inc[g] = Math.min(l, cap);
    }
    return inc;
  }

  /** Adds increments from {@link increments} (of a process on the same grid). */
  add(inc: Float64Array): void {
    const L = this.#L;
    if (inc.length !== L.length) throw new RangeError("increments are for another grid");
    this.#logE = undefined;
    this.#cs = undefined;
    this.#estimate = undefined;
    for (let g = 0; g < L.length; g++) (L[g] as number) += inc[g] as number;
  }

  /** log E_t, the log e-value against "ratio ≤ e^δ₀" ("≥" for a decrease). 0 before any event. */
  logE(): number {
    this.#logE ??= logSumExp(this.grid.failLogPrior, this.#L, this.#failFrom, this.#failTo);
    return this.#logE;
  }

  /** The grid point with the largest likelihood: the estimate of δ (0 before any event). */
  estimate(): number {
    this.#estimate ??= this.#argmax();
    return this.#estimate;
  }

  #argmax(): number {
    const L = this.#L;
    let best = -1;
    let max = 0;
    for (let g = 0; g < L.length; g++) {
      if ((L[g] as number) > max || best < 0) {
        max = L[g] as number;
        best = g;
      }
    }
    return max === 0 && L.every((l) => l === 0) ? 0 : (this.grid.deltas[best] as number);
  }

  /**
   * The confidence sequence on δ at level 1 − α: the grid's bracket of {δ : m_t / exp(L(δ)) < 1/α}.
   * Valid simultaneously at every time, so it may be checked after every interval.
   */
  confidenceSequence(alpha: number): DeltaBounds {
    if (this.#cs?.alpha !== alpha) this.#cs = { alpha, bounds: this.#confidenceSequence(alpha) };
    return { ...this.#cs.bounds };
  }

  #confidenceSequence(alpha: number): DeltaBounds {
    const { deltas, twoSidedLogPrior } = this.grid;
    const L = this.#L;
    const n = deltas.length;
    const cut = logSumExp(twoSidedLogPrior, L) - Math.log(1 / alpha);
    let first = -1;
    let last = -1;
    let argmax = 0;
    for (let g = 0; g < n; g++) {
      const l = L[g] as number;
      if (l > cut) {
        if (first < 0) first = g;
        last = g;
      }
      if (l > (L[argmax] as number)) argmax = g;
    }
    if (first < 0) {
      // No grid point survives: the interval lies between two points around the maximum.
      return {
        lower: argmax === 0 ? Number.NEGATIVE_INFINITY : (deltas[argmax - 1] as number),
        upper: argmax === n - 1 ? Number.POSITIVE_INFINITY : (deltas[argmax + 1] as number),
      };
    }
    return {
      lower: first === 0 ? Number.NEGATIVE_INFINITY : (deltas[first - 1] as number),
      upper: last === n - 1 ? Number.POSITIVE_INFINITY : (deltas[last + 1] as number),
    };
  }

  /** The accumulated log-likelihood ratios, for persisting (plain numbers round-trip exactly through JSON). */
  snapshot(): number[] {
    return Array.from(this.#L);
  }

  /** Restores a {@link snapshot}. */
  load(values: readonly number[]): void {
    this.#logE = undefined;
    this.#cs = undefined;
    this.#estimate = undefined;
    if (values.length !== this.#L.length) {
      throw new RangeError(
        `expected ${this.#L.length} log-likelihood ratios, got ${values.length}`,
      );
    }
    for (let g = 0; g < values.length; g++) {
      const v = values[g];
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new RangeError(`log-likelihood ratio ${g} is not a finite number`);
      }
      this.#L[g] = v;
    }
  }
}
