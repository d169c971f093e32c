/**
 * Sums of exponentials in log space, so that e-values of 10^300 and beyond, or likelihoods of
 * 10^-5000, neither overflow nor underflow.
 *
 * @module
 */

/**
 * log Σᵢ exp(aᵢ + bᵢ) over i in [from, to) (b omitted: log Σᵢ exp(aᵢ)). Terms equal to −∞ add
 * nothing; an empty or all −∞ sum is −∞. NaN anywhere gives NaN.
 */
export function logSumExp(
  a: ArrayLike<number>,
  b?: ArrayLike<number>,
  from = 0,
  to: number = a.length,
): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = from; i < to; i++) {
    const x = (a[i] as number) + (b === undefined ? 0 : (b[i] as number));
    if (Number.isNaN(x)) return Number.NaN;
    if (x > max) max = x;
  }
  if (max === Number.NEGATIVE_INFINITY) return max;
  if (max === Number.POSITIVE_INFINITY) return max;
  // Terms below max − 50 add less than e⁻⁵⁰ ≈ 2e−22 each, far under a double's precision: skip their exp.
  const floor = max - 50;
  let sum = 0;
  for (let i = from; i < to; i++) {
    const x = (a[i] as number) + (b === undefined ? 0 : (b[i] as number));
    if (x > floor) sum += Math.exp(x - max);
  }
  return max + Math.log(sum);
}

/** log(exp(x) + exp(y)) without overflow. */
export function logAddExp(x: number, y: number): number {
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.NaN;
  const max = Math.max(x, y);
  if (max === Number.NEGATIVE_INFINITY || max === Number.POSITIVE_INFINITY) return max;
  return max + Math.log1p(Math.exp(Math.min(x, y) - max));
}
