/**
 * Simulated latency: mixtures of lognormals (ms), tabulated once on a fine log grid so that the
 * benchmark can ask, cheaply and many times per run, "what share is slower than x" and "what is
 * the empirical p99 of these n requests" without drawing every request.
 *
 * Empirical quantiles are exact in law: the k-th smallest of n draws from G is G⁻¹(U) with
 * U ~ Beta(k, n − k + 1). A window of several intervals, each with its own latency scale (shared
 * shocks), is the count-weighted mixture of the scaled distributions.
 *
 * @module
 */

import normalCdf from "@stdlib/stats-base-dists-normal-cdf";
import type { Rng } from "../../src/analysis/stats/random.js";

export interface LognormalPart {
  /** Share of requests. */
  weight: number;
  /** Median, ms. */
  median: number;
  /** σ of log latency. */
  sigma: number;
}

/** The stable version's latency: a lognormal body (median 100 ms, σ 0.5) and a 1 % slow tail. */
export const BASE_LATENCY: readonly LognormalPart[] = [
  { weight: 0.99, median: 100, sigma: 0.5 },
  { weight: 0.01, median: 250, sigma: 0.5 },
];

/** Every request `factor` × slower (the median, and everything else, scales). */
export function scaled(parts: readonly LognormalPart[], factor: number): LognormalPart[] {
  return parts.map((p) => ({ ...p, median: p.median * factor }));
}

/** A share `share` of requests `factor` × slower, the rest unchanged (a tail-only regression). */
export function tailSlowed(
  parts: readonly LognormalPart[],
  share: number,
  factor: number,
): LognormalPart[] {
  return [
    ...parts.map((p) => ({ ...p, weight: p.weight * (1 - share) })),
    ...parts.map((p) => ({ ...p, weight: p.weight * share, median: p.median * factor })),
  ];
}

const LX0 = Math.log(0.05);
const LX1 = Math.log(500_000);
const H = 0.002;

/** CDF of a lognormal mixture tabulated over log latency. */
export class LatencyTable {
  readonly #cdf: Float64Array;

  constructor(parts: readonly LognormalPart[]) {
    const n = Math.ceil((LX1 - LX0) / H) + 1;
    this.#cdf = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const lx = LX0 + i * H;
      let c = 0;
      for (const p of parts) c += p.weight * normalCdf(lx, Math.log(p.median), p.sigma);
      this.#cdf[i] = c;
    }
  }

  /** P(latency ≤ e^lx). */
  cdfLog(lx: number): number {
    const f = (lx - LX0) / H;
    if (f <= 0) return 0;
    const cdf = this.#cdf;
    if (f >= cdf.length - 1) return 1;
    const i = Math.floor(f);
    const a = cdf[i] as number;
    return a + ((cdf[i + 1] as number) - a) * (f - i);
  }

  /** log of the u-quantile. */
  quantileLog(u: number): number {
    const cdf = this.#cdf;
    let lo = 0;
    let hi = cdf.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < u) lo = mid;
      else hi = mid;
    }
    const a = cdf[lo] as number;
    const b = cdf[hi] as number;
    const f = b > a ? (u - a) / (b - a) : 0;
    return LX0 + (lo + Math.min(1, Math.max(0, f))) * H;
  }

  /** The q-quantile in ms. */
  quantile(q: number): number {
    return Math.exp(this.quantileLog(q));
  }

  /** P(latency > x ms) when every latency is multiplied by e^lnScale. */
  slowerThan(xMs: number, lnScale: number): number {
    return 1 - this.cdfLog(Math.log(xMs) - lnScale);
  }

  /** One request's latency (ms) at scale e^lnScale. */
  sample(rng: Rng, lnScale: number): number {
    return Math.exp(this.quantileLog(rng.next()) + lnScale);
  }
}

/** Requests of one interval in a window: how many, from which distribution, at which scale. */
export interface WindowPart {
  n: number;
  table: LatencyTable;
  lnScale: number;
}

/**
 * The empirical q-quantile (rank ⌈q·n⌉) of the window's requests, drawn exactly in law; NaN for
 * an empty window. Bisection over the mixture's CDF.
 */
export function sampleWindowQuantile(rng: Rng, parts: readonly WindowPart[], q: number): number {
  let n = 0;
  for (const p of parts) n += p.n;
  if (n === 0) return Number.NaN;
  const k = Math.max(1, Math.ceil(q * n));
  const u = k === n ? rng.next() ** (1 / n) : rng.beta(k, n - k + 1);
  let lo = LX0;
  let hi = LX1;
  for (let it = 0; it < 36; it++) {
    const mid = 0.5 * (lo + hi);
    let c = 0;
    for (const p of parts) if (p.n > 0) c += p.n * p.table.cdfLog(mid - p.lnScale);
    if (c / n < u) lo = mid;
    else hi = mid;
  }
  return Math.exp(0.5 * (lo + hi));
}

const CX0 = Math.log(1);
const CX1 = Math.log(100_000);
const CH = 0.02;

/** A growing window's CDF (counts below each grid point), for cumulative quantiles at every check. */
export class CumulativeLatency {
  readonly #below: Float64Array;
  n = 0;

  constructor() {
    this.#below = new Float64Array(Math.ceil((CX1 - CX0) / CH) + 1);
  }

  add(part: WindowPart): void {
    if (part.n === 0) return;
    this.n += part.n;
    const below = this.#below;
    for (let i = 0; i < below.length; i++) {
      (below[i] as number) += part.n * part.table.cdfLog(CX0 + i * CH - part.lnScale);
    }
  }

  /** The empirical q-quantile of everything added, drawn exactly in law up to the grid (1 %); NaN when empty. */
  sampleQuantile(rng: Rng, q: number): number {
    const n = this.n;
    if (n === 0) return Number.NaN;
    const k = Math.max(1, Math.ceil(q * n));
    const target = n * (k === n ? rng.next() ** (1 / n) : rng.beta(k, n - k + 1));
    const below = this.#below;
    let lo = 0;
    let hi = below.length - 1;
    if ((below[hi] as number) < target) return Math.exp(CX1);
    if ((below[0] as number) >= target) return Math.exp(CX0);
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if ((below[mid] as number) < target) lo = mid;
      else hi = mid;
    }
    const a = below[lo] as number;
    const b = below[hi] as number;
    return Math.exp(CX0 + (lo + (b > a ? (target - a) / (b - a) : 0)) * CH);
  }
}
