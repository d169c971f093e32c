/**
 * The two-sample Mann-Whitney (Wilcoxon rank-sum) statistic as Kayenta's NetflixACAJudge uses
 * it: the Hodges-Lehmann shift of the experiment (canary) over the control (baseline) and an
 * asymptotic confidence interval for it, found by root finding over the shift. This is R's
 * `wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE)` (two-sided), which
 * Kayenta ports:
 *
 * - For a shift μ, rank `x − μ` together with `y` (average ranks for ties) and take
 *   dz(μ) = Σ ranks(x − μ) − m(m+1)/2 − mn/2 and
 *   σ(μ)² = (mn/12)·[(m+n+1) − Σ_ties(t³−t) / ((m+n)(m+n−1))].
 * - The interval's ends solve (dz − ½·sign(dz))/σ = ±z with z = Φ⁻¹(1 − α/2), over
 *   μ ∈ [min x − max y, max x − min y]; when the statistic never crosses the quantile inside
 *   that range, the range's end is the answer (as in R and Kayenta).
 * - The estimate solves dz/σ = 0, without the continuity correction (R drops it for the
 *   estimate; Kayenta keeps it — see below).
 *
 * The statistic is a step function of μ (it only jumps where μ equals a pairwise difference
 * x_i − y_j), so a root is a jump point, or a whole interval where the statistic is exactly zero.
 * We bisect to the jump (to 1e-12 of the search range) and then snap to the pairwise difference
 * inside that bracket, instead of stopping within R's absolute `tol = 1e-4`; when the statistic
 * is zero over an interval we return that interval's midpoint instead of wherever Brent's method
 * happens to land. Consequences:
 *
 * - Our interval ends are the exact jump points; R's and Kayenta's are within 1e-4 of them
 *   (their tolerance is absolute, which is coarse for metrics on a 0.001 scale).
 * - Our estimate is exactly the Hodges-Lehmann median of the pairwise differences
 *   (median{x_i − y_j}). R's lands within 1e-4 of it (for an even count of differences,
 *   anywhere between the two middle ones); Kayenta, which keeps the continuity correction for
 *   the estimate, can land anywhere between the differences just below and just above the median.
 *
 * The p-value (two-sided, normal approximation with the same tie and continuity corrections,
 * at μ = 0) is reported for evidence only; the NetflixACAJudge never uses it.
 *
 * @module
 */

import normalCdf from "@stdlib/stats-base-dists-normal-cdf";
import normalQuantile from "@stdlib/stats-base-dists-normal-quantile";

/** The statistic cannot be computed on these samples (e.g. every observation tied). */
export class MannWhitneyError extends Error {
  readonly code: "EMPTY" | "NOT_FINITE" | "ALL_TIED" | "BAD_CONFIDENCE";
  constructor(code: MannWhitneyError["code"], message: string) {
    super(message);
    this.code = code;
    this.name = "MannWhitneyError";
  }
}

export interface MannWhitneyResult {
  /** Hodges-Lehmann estimate of the shift experiment − control. */
  estimate: number;
  /** Lower end of the confidence interval for the shift. */
  lower: number;
  /** Upper end of the confidence interval for the shift. */
  upper: number;
  /** Two-sided p-value of "no shift" (normal approximation, tie and continuity corrected). */
  pValue: number;
  confidence: number;
  /** Experiment (x) and control (y) sample sizes. */
  m: number;
  n: number;
}

/** dz and σ of the rank-sum statistic at one shift. */
interface RankSum {
  dz: number;
  sigma: number;
}

/**
 * Evaluates the rank-sum statistic of `x − μ` against `y` by merging the two sorted samples
 * (x − μ keeps x's order), so each evaluation is O(m + n) with no sorting.
 */
function rankSumAt(x: Float64Array, y: Float64Array, mu: number): RankSum {
  const m = x.length;
  const n = y.length;
  let i = 0;
  let j = 0;
  let seen = 0; // observations ranked so far
  let rankSumX = 0;
  let ties = 0; // Σ (t³ − t) over groups of equal values
  while (i < m || j < n) {
    const xv = i < m ? (x[i] as number) - mu : Number.POSITIVE_INFINITY;
    const yv = j < n ? (y[j] as number) : Number.POSITIVE_INFINITY;
    const v = Math.min(xv, yv);
    let a = 0; // members of this tie group from x
    while (i < m && (x[i] as number) - mu === v) {
      a++;
      i++;
    }
    let b = 0; // ... and from y
    while (j < n && (y[j] as number) === v) {
      b++;
      j++;
    }
    const t = a + b;
    // Ranks seen+1 .. seen+t share their average.
    rankSumX += a * (seen + (t + 1) / 2);
    if (t > 1) ties += t * t * t - t;
    seen += t;
  }
  const N = m + n;
  const dz = rankSumX - (m * (m + 1)) / 2 - (m * n) / 2;
  const variance = ((m * n) / 12) * (N + 1 - ties / (N * (N - 1)));
  return { dz, sigma: Math.sqrt(Math.max(0, variance)) };
}

/**
 * A root of a non-increasing step function f on [lo, hi], R's way at the ends: `lo` when
 * f(lo) ≤ 0, `hi` when f(hi) ≥ 0. Otherwise the point where f changes sign, found by
 * bisection; if f is exactly 0 over an interval, that interval's midpoint. `snap`, given a
 * tiny bracket around a jump, may return the jump's exact position.
 */
export function stepRoot(
  f: (mu: number) => number,
  lo: number,
  hi: number,
  snap: (l: number, h: number) => number | undefined = () => undefined,
): number {
  if (f(lo) <= 0) return lo;
  if (f(hi) >= 0) return hi;
  const tol = (hi - lo) * 1e-12;
  // a = sup{μ : f(μ) > 0}, bracketed by l (f > 0) and h (f ≤ 0).
  let l = lo;
  let h = hi;
  let firstNegative = hi; // smallest point seen with f < 0
  while (h - l > tol) {
    const mid = l + (h - l) / 2;
    if (mid <= l || mid >= h) break;
    const v = f(mid);
    if (v > 0) l = mid;
    else {
      h = mid;
      if (v < 0) firstNegative = mid;
    }
  }
  const a = snap(l, h) ?? l + (h - l) / 2;
  // b = inf{μ : f(μ) < 0}, bracketed by l2 (f ≥ 0) and h2 (f < 0); b ≥ a.
  let l2 = l;
  let h2 = firstNegative;
  while (h2 - l2 > tol) {
    const mid = l2 + (h2 - l2) / 2;
    if (mid <= l2 || mid >= h2) break;
    if (f(mid) >= 0) l2 = mid;
    else h2 = mid;
  }
  const b = h2 === h && l2 === l ? a : (snap(l2, h2) ?? l2 + (h2 - l2) / 2);
  return a + (b - a) / 2;
}

function distinct(sorted: Float64Array): Float64Array {
  const out: number[] = [];
  for (const v of sorted) if (out.length === 0 || out[out.length - 1] !== v) out.push(v);
  return Float64Array.from(out);
}

/** First index in `sorted` with a value ≥ v. */
function lowerBound(sorted: Float64Array, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The statistic only jumps at pairwise differences x_i − y_j: given a tiny bracket [l, h] around
 * a jump, the one distinct difference inside it (allowing a few ulps of rounding), if exactly one.
 */
function pairwiseSnap(
  x: Float64Array,
  y: Float64Array,
): (l: number, h: number) => number | undefined {
  const xs = distinct(x);
  const ys = distinct(y);
  return (l, h) => {
    const slack = 8 * Number.EPSILON * Math.max(Math.abs(l), Math.abs(h));
    const lo = l - slack;
    const hi = h + slack;
    let found: number | undefined;
    for (const xv of xs) {
      // y in [xv − hi, xv − lo]
      for (let j = lowerBound(ys, xv - hi - slack); j < ys.length; j++) {
        const yv = ys[j] as number;
        const d = xv - yv;
        if (d < lo) break;
        if (d > hi) continue;
        if (found === undefined) found = d;
        else if (found !== d) return undefined;
      }
    }
    return found;
  };
}

function sortedCopy(values: readonly number[]): Float64Array {
  const out = Float64Array.from(values);
  out.sort();
  return out;
}

/**
 * Mann-Whitney of `experiment` (x) against `control` (y): the Hodges-Lehmann shift x − y with
 * its two-sided confidence interval at `confidence` (Kayenta: 0.98).
 *
 * @throws MannWhitneyError on an empty or non-finite sample, or when every observation is tied
 *   at some shift (e.g. one point on each side), where the normal approximation has no variance.
 */
export function mannWhitney(
  experiment: readonly number[],
  control: readonly number[],
  confidence = 0.98,
): MannWhitneyResult {
  if (!(confidence > 0 && confidence < 1)) {
    throw new MannWhitneyError("BAD_CONFIDENCE", `confidence must be in (0, 1), got ${confidence}`);
  }
  const m = experiment.length;
  const n = control.length;
  if (m === 0 || n === 0) {
    throw new MannWhitneyError("EMPTY", `both samples need data (experiment ${m}, control ${n})`);
  }
  if (!experiment.every(Number.isFinite) || !control.every(Number.isFinite)) {
    throw new MannWhitneyError(
      "NOT_FINITE",
      "samples must be finite numbers (no NaN or ±Infinity)",
    );
  }
  if (m === 1 && n === 1) {
    throw new MannWhitneyError(
      "ALL_TIED",
      "one point on each side: at the shift that ties them the statistic has no variance",
    );
  }
  const x = sortedCopy(experiment);
  const y = sortedCopy(control);
  const muMin = (x[0] as number) - (y[n - 1] as number);
  const muMax = (x[m - 1] as number) - (y[0] as number);

  const at = (mu: number): RankSum => {
    const s = rankSumAt(x, y, mu);
    if (s.sigma === 0) {
      throw new MannWhitneyError(
        "ALL_TIED",
        "cannot compute confidence interval when all observations are tied",
      );
    }
    return s;
  };
  const corrected = (zq: number) => (mu: number) => {
    const { dz, sigma } = at(mu);
    return (dz - Math.sign(dz) * 0.5) / sigma - zq;
  };

  const alpha = 1 - confidence;
  const z = -normalQuantile(alpha / 2, 0, 1); // > 0
  const snap = pairwiseSnap(x, y);
  const lower = stepRoot(corrected(z), muMin, muMax, snap);
  const upper = stepRoot(corrected(-z), muMin, muMax, snap);
  const estimate = stepRoot((mu) => at(mu).dz, muMin, muMax, snap);

  const at0 = at(0);
  const z0 = (at0.dz - Math.sign(at0.dz) * 0.5) / at0.sigma;
  const pValue = Math.min(1, 2 * Math.min(normalCdf(z0, 0, 1), 1 - normalCdf(z0, 0, 1)));

  return { estimate, lower, upper, pValue, confidence, m, n };
}

/**
 * The common-language effect size P(X > Y) + ½·P(X = Y) over all pairs (McGraw & Wong),
 * computed from average ranks: U_x / (m·n).
 */
export function cles(experiment: readonly number[], control: readonly number[]): number {
  const m = experiment.length;
  const n = control.length;
  if (m === 0 || n === 0) return Number.NaN;
  const { dz } = rankSumAt(sortedCopy(experiment), sortedCopy(control), 0);
  return (dz + (m * n) / 2) / (m * n);
}
