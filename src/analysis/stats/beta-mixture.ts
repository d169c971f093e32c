/**
 * Closed-form Beta-mixture Bayes factors for "which arm produced the next event" (research
 * §2.2, Lindon & Malek's multinomial test with two arms). Each event (an error, a slow request)
 * is the canary's with probability θ; under the null θ = θ₀ (the canary's traffic share when the
 * arms are alike). The mixture over θ ~ Beta(a, b) of the likelihood ratio against θ₀ is an
 * e-process: a nonnegative martingale under the null, so by Ville's inequality it ever reaches
 * 1/α with probability at most α.
 *
 * The sequential judge uses a grid prior over the log rate ratio (see `rate-ratio.ts`) because
 * the traffic share changes between intervals; with a constant share these closed forms are its
 * oracle.
 *
 * @module
 */

import betainc from "@stdlib/math-base-special-betainc";
import betaln from "@stdlib/math-base-special-betaln";

/**
 * Two-sided: log BF = log B(a + n₁, b + n₀) − log B(a, b) − n₁ log θ₀ − n₀ log(1 − θ₀), for n₁
 * events on the canary arm and n₀ on the baseline. With a = kθ₀, b = k(1 − θ₀) this is the
 * Dirichlet-multinomial test of §2.2 with concentration k.
 */
export function logBetaMixtureBF(
  n1: number,
  n0: number,
  theta0: number,
  a: number,
  b: number,
): number {
  checkArgs(n1, n0, theta0, a, b);
  return betaln(a + n1, b + n0) - betaln(a, b) - xlogy(n1, theta0) - xlogy(n0, 1 - theta0);
}

/**
 * One-sided (fail only when the canary is worse): the Beta(a, b) prior truncated to θ > θ₀.
 * log BF⁺ = log B(a+n₁, b+n₀) + log(1 − I_θ₀(a+n₁, b+n₀)) − log B(a,b) − log(1 − I_θ₀(a,b))
 *           − n₁ log θ₀ − n₀ log(1 − θ₀).
 * A supermartingale for the composite null θ ≤ θ₀.
 */
export function logOneSidedBetaMixtureBF(
  n1: number,
  n0: number,
  theta0: number,
  a: number,
  b: number,
): number {
  checkArgs(n1, n0, theta0, a, b);
  const upperPost = betainc(theta0, a + n1, b + n0, true, true);
  const upperPrior = betainc(theta0, a, b, true, true);
  return (
    betaln(a + n1, b + n0) +
    Math.log(upperPost) -
    betaln(a, b) -
    Math.log(upperPrior) -
    xlogy(n1, theta0) -
    xlogy(n0, 1 - theta0)
  );
}

function xlogy(x: number, y: number): number {
  return x === 0 ? 0 : x * Math.log(y);
}

function checkArgs(n1: number, n0: number, theta0: number, a: number, b: number): void {
  if (!(n1 >= 0 && n0 >= 0 && Number.isFinite(n1) && Number.isFinite(n0))) {
    throw new RangeError(`event counts must be finite and ≥ 0, got ${n1} and ${n0}`);
  }
  if (!(theta0 > 0 && theta0 < 1)) throw new RangeError(`θ₀ must be in (0, 1), got ${theta0}`);
  if (!(a > 0 && b > 0))
    throw new RangeError(`Beta prior parameters must be > 0, got ${a} and ${b}`);
}
