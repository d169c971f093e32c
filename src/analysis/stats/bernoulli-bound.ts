/**
 * An anytime-valid upper confidence bound on an event probability (a canary's error share)
 * from k events in n trials: the beta-binomial mixture confidence sequence with a uniform
 * Beta(1, 1) prior. The set {p : E_n(p) < 1/α}, with E_n(p) = B(1 + k, 1 + n − k) / (p^k (1−p)^(n−k)),
 * covers the true p at every n at once with probability ≥ 1 − α (Ville's inequality).
 *
 * @module
 */

import betaln from "@stdlib/math-base-special-betaln";

/** The smallest p the confidence sequence still holds: the upper bound of the complementary share. */
export function bernoulliLowerBound(k: number, n: number, alpha: number): number {
  return n <= 0 ? 0 : 1 - bernoulliUpperBound(n - k, n, alpha);
}

/** The largest p the confidence sequence still holds, to about 1e-9. */
export function bernoulliUpperBound(k: number, n: number, alpha: number): number {
  if (n <= 0) return 1;
  const logMix = betaln(1 + k, 1 + n - k);
  const limit = Math.log(1 / alpha);
  let lo = k / n;
  let hi = 1;
  if (logE(logMix, k, n, lo) >= limit) return lo;
  for (let i = 0; i < 100 && hi - lo > 1e-9; i++) {
    const mid = (lo + hi) / 2;
    if (logE(logMix, k, n, mid) < limit) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** log E_n(p) = logMix − k log p − (n − k) log(1 − p): increasing in p above k / n. */
function logE(logMix: number, k: number, n: number, p: number): number {
  return logMix - (k > 0 ? k * Math.log(p) : 0) - (n - k) * Math.log1p(-p);
}
