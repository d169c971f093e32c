/**
 * The NetflixACAJudge's per-series preprocessing: NaN handling, IQR outlier removal with the
 * judge's reduced sensitivity, percentiles by linear interpolation, and the seeded Gaussian
 * noise that breaks ties on constant series.
 *
 * @module
 */

/**
 * The p-th percentile (0–100) of `sorted` by linear interpolation between closest ranks
 * (Hyndman & Fan type 7, R's default, numpy's "linear"): h = (n − 1)·p/100. Kayenta's
 * `DescriptiveStatistics.percentile` gives the same (its tests: 0.175 for p5 of
 * 0, 0.5, …, 3.5 and 95.19568 for p90 of NIST's 12-point sample).
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const h = ((n - 1) * p) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (h - lo) * (b - a);
}

export function sortNumbers(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/**
 * Outlier fences of Kayenta's IQRDetector(factor, reduceSensitivity = true): Tukey's fences
 * Q1 − f·IQR and Q3 + f·IQR, widened to the 1st and 99th percentiles when those lie further out.
 */
export function iqrFences(
  values: readonly number[],
  factor: number,
): { lower: number; upper: number } {
  const s = sortNumbers(values);
  const q1 = percentile(s, 25);
  const q3 = percentile(s, 75);
  const iqr = q3 - q1;
  return {
    lower: Math.min(percentile(s, 1), q1 - factor * iqr),
    upper: Math.max(percentile(s, 99), q3 + factor * iqr),
  };
}

/** Values outside the fences removed (order kept). */
export function removeOutliers(values: readonly number[], factor: number): number[] {
  if (values.length === 0) return [];
  const { lower, upper } = iqrFences(values, factor);
  return values.filter((v) => v >= lower && v <= upper);
}

export interface NanHandled {
  values: number[];
  /** NaNs dropped (remove) or set to 0 (replace). */
  nans: number;
}

/** Kayenta's nanStrategy: `remove` drops NaNs, `replace` sets them to 0. */
export function handleNaNs(values: readonly number[], strategy: "remove" | "replace"): NanHandled {
  let nans = 0;
  const out: number[] = [];
  for (const v of values) {
    if (Number.isNaN(v)) {
      nans++;
      if (strategy === "replace") out.push(0);
    } else out.push(v);
  }
  return { values: out, nans };
}

/** A small, fast, seedable PRNG (mulberry32), uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws from a uniform source (Box-Muller). */
export function gaussian(uniform: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = uniform();
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/**
 * Kayenta's tie breaker for a constant series: Gaussian noise with sd = 1e-5 × the series' value
 * (so a constant 0 stays 0). Uses the given normal source, so results are reproducible.
 */
export function addNoise(values: readonly number[], normal: () => number): number[] {
  const scale = Math.abs(values[0] ?? 0) * 1e-5;
  return values.map((v) => v + normal() * scale);
}
