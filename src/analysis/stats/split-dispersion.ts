/**
 * How much more the canary's share of events varies from interval to interval than the binomial
 * model of `rate-ratio.ts` allows, and by how much each interval's evidence is discounted for it.
 *
 * Why. The rate-ratio e-process assumes that, given an interval's events, each is the canary's
 * with one fixed probability. Real fleets break that: each arm's pods drift on their own (a noisy
 * node, a cache, a garbage collection), so the ratio of the arms' rates wanders from interval to
 * interval, and the likelihood ratio grows on that noise: with a per-interval drift of CV 0.2 on
 * each arm the decision benchmark saw a healthy canary rolled back in 19 % of runs at 1,000
 * requests/s.
 *
 * Model. Let the log ratio of the arms' rates wander with variance s² per interval. Given its n
 * events, the canary's count then has variance n θ(1 − θ) (1 + n θ(1 − θ) s²) to first order: the
 * binomial part, inflated by φ = 1 + n θ(1 − θ) s². The inflation grows with the interval's counts:
 * it is negligible at 10 requests/s, where evidence is scarce, and large at 1,000, where it is
 * plentiful. Each interval's log-likelihood ratio is divided by its own φ, a quasi-likelihood,
 * the classical correction for overdispersed counts (McCullagh and Nelder, §4.5, §9.2).
 *
 * Estimate. E[(e_B − n θ)² − n θ(1 − θ)] = (n θ(1 − θ))² s², so s² is estimated by the method of
 * moments, each interval weighted by how much it can say about s² (high-count intervals most).
 * θ must be the canary's true share: a large effect seen through the wrong θ passes for noise. It
 * is only known afterwards, so the sums are kept for a coarse grid of ratios at once and s² is
 * read at the split's own estimate of the ratio: the root of the pooled score Σ (e_B − n θ),
 * kept per grid ratio beside the moment sums. Not at the test's estimate: the test's per-interval
 * cap flattens its likelihood at the top, so its argmax stays well below a large effect, and its
 * grid ends at a ratio of 20 while a gross failure lies beyond (a canary failing one request in
 * five against a stable arm with none). Read there, the effect passed for drift: φ reached 19 to
 * 30 on perfectly binomial counts, and a service with 200 canary requests a second was rolled
 * back later than one with 50. So the sums also cover ratios far beyond the test's grid.
 *
 * Until the data say otherwise the estimate is shrunk towards a prior s₀² that is deliberately
 * generous, with the weight of {@link PRIOR_INTERVALS} busy intervals: with no history, a busy
 * interval's evidence is discounted as if the fleet were noisy, because one interval cannot show
 * that it is not.
 *
 * @module
 */

/** How many busy intervals the prior s₀² counts for. */
export const PRIOR_INTERVALS = 5;

export interface DispersionState {
  /** Σ c_t u_t per grid ratio (weighted moment sums). */
  sum: number[];
  /** Σ c_t per grid ratio. */
  weight: number[];
  /** Σ (e_B − n θ) per grid ratio: the score whose root is the split's own estimate of the ratio. */
  score: number[];
  intervals: number;
}

/** Every how many points of the e-process's grid the dispersion keeps its sums. */
export const DISPERSION_GRID_STRIDE = 8;

/** How far beyond the test's grid the sums reach (log rate ratio; e^7 ≈ 1,100), and in what steps. */
export const BEYOND_GRID_MAX_DELTA = 7;
export const BEYOND_GRID_STEP = 0.5;

export class SplitDispersion {
  readonly priorS2: number;
  readonly #deltas: Float64Array;
  /** exp(δ) of each kept grid point. */
  readonly #ratios: Float64Array;
  readonly #sum: Float64Array;
  readonly #weight: Float64Array;
  readonly #score: Float64Array;
  #intervals = 0;

  /**
   * `deltas`: the e-process's grid of log rate ratios (increasing); `priorS2`: the prior
   * per-interval variance of the log ratio of the arms' rates.
   */
  constructor(deltas: ArrayLike<number>, priorS2: number) {
    if (!(priorS2 > 0 && Number.isFinite(priorS2)))
      throw new RangeError(`prior s² must be > 0, got ${priorS2}`);
    this.priorS2 = priorS2;
    const first = deltas[0] as number;
    const last = deltas[deltas.length - 1] as number;
    if (!(deltas.length > 0 && first <= last)) throw new RangeError("the grid must be increasing");
    const picked: number[] = [];
    for (let d = -BEYOND_GRID_MAX_DELTA; d < first; d += BEYOND_GRID_STEP) picked.push(d);
    for (let g = 0; g < deltas.length; g += DISPERSION_GRID_STRIDE)
      picked.push(deltas[g] as number);
    if (picked[picked.length - 1] !== last) picked.push(last);
    const beyond: number[] = [];
    for (let d = BEYOND_GRID_MAX_DELTA; d > last; d -= BEYOND_GRID_STEP) beyond.push(d);
    picked.push(...beyond.reverse());
    this.#deltas = Float64Array.from(picked);
    this.#ratios = this.#deltas.map(Math.exp);
    this.#sum = new Float64Array(picked.length);
    this.#weight = new Float64Array(picked.length);
    this.#score = new Float64Array(picked.length);
  }

  /**
   * Adds one interval: `eA` stable events, `eB` canary events, the canary's share `rho` of the
   * requests. Intervals without events (or without one arm) say nothing about the split.
   */
  add(eA: number, eB: number, rho: number): void {
    const n = eA + eB;
    if (!(n > 0 && rho > 0 && rho < 1)) return;
    const ratios = this.#ratios;
    const s0 = this.priorS2;
    for (let g = 0; g < ratios.length; g++) {
      const r = rho * (ratios[g] as number);
      const theta = r / (r + 1 - rho);
      const v = n * theta * (1 - theta);
      (this.#score[g] as number) += eB - n * theta;
      if (!(v > 0)) continue;
      const u = ((eB - n * theta) ** 2 - v) / (v * v);
      // Inverse-variance weight of u at the prior: busy intervals say most about s².
      const c = (v / (1 + v * s0)) ** 2;
      (this.#sum[g] as number) += c * u;
      (this.#weight[g] as number) += c;
    }
    this.#intervals++;
  }

  /**
   * s², shrunk towards the prior, at the split's own estimate of the ratio (`delta`, the test's
   * estimate, is used only before the first interval).
   */
  s2(delta: number): number {
    return this.#s2At(this.#readAt(delta));
  }

  #s2At(g: number): number {
    // The prior counts as PRIOR_INTERVALS busy intervals, each of weight 1/s₀⁴.
    const k0 = PRIOR_INTERVALS / (this.priorS2 * this.priorS2);
    const est = (k0 * this.priorS2 + (this.#sum[g] as number)) / (k0 + (this.#weight[g] as number));
    return Math.max(0, est);
  }

  /** φ for an interval of `n` events with canary share `rho`, at the log rate ratio `delta`. */
  phi(n: number, rho: number, delta: number): number {
    if (!(n > 0 && rho > 0 && rho < 1)) return 1;
    const g = this.#readAt(delta);
    const r = rho * (this.#ratios[g] as number);
    const theta = r / (r + 1 - rho);
    return 1 + n * theta * (1 - theta) * this.#s2At(g);
  }

  /**
   * The kept point to read s² at: the split's own estimate of the ratio, from the intervals so
   * far (before any, the test's estimate `delta`, where all points hold only the prior).
   */
  #readAt(delta: number): number {
    return this.#intervals > 0 ? this.#root() : this.#nearest(delta);
  }

  /** The kept point where the score Σ (e_B − n θ), falling with the ratio, is nearest zero. */
  #root(): number {
    const score = this.#score;
    let g = 0;
    while (g < score.length - 1 && (score[g] as number) > 0) g++;
    if (g > 0 && Math.abs(score[g - 1] as number) < Math.abs(score[g] as number)) g--;
    return g;
  }

  #nearest(delta: number): number {
    const deltas = this.#deltas;
    let best = 0;
    for (let g = 1; g < deltas.length; g++) {
      if (Math.abs((deltas[g] as number) - delta) < Math.abs((deltas[best] as number) - delta))
        best = g;
    }
    return best;
  }

  snapshot(): DispersionState {
    return {
      sum: Array.from(this.#sum),
      weight: Array.from(this.#weight),
      score: Array.from(this.#score),
      intervals: this.#intervals,
    };
  }

  load(s: DispersionState): void {
    const n = this.#sum.length;
    const numbers = (a: unknown) =>
      Array.isArray(a) &&
      a.length === n &&
      a.every((x) => typeof x === "number" && Number.isFinite(x));
    if (
      !numbers(s.sum) ||
      !numbers(s.weight) ||
      !numbers(s.score) ||
      !(Number.isInteger(s.intervals) && s.intervals >= 0)
    )
      throw new RangeError("not a dispersion state for this grid");
    this.#sum.set(s.sum);
    this.#weight.set(s.weight);
    this.#score.set(s.score);
    this.#intervals = s.intervals;
  }
}
