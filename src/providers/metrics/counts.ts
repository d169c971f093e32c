/**
 * Counts mode, shared by the providers that have it: one version's numerator (events) and
 * denominator (requests) over a window, checked before the sequential judge sees them.
 *
 * @module
 */

import { type ArmObservation, ProviderError } from "../../analysis/types.js";

/** How far increase()'s extrapolation may carry events past requests before it is an error. */
const EXTRAPOLATION_SLACK = 0.05;

/** One version's counts as an observation arm; bad answers are errors naming the version. */
export function countsArm(
  provider: string,
  name: "canary" | "stable",
  events: number | null,
  requests: number | null,
  eventsFrom: string,
): ArmObservation {
  // No value: nothing was counted (Prometheus has no series for a label set never seen).
  let e = events ?? 0;
  const n = requests ?? 0;
  for (const [what, v] of [
    ["events", e],
    ["requests", n],
  ] as const) {
    if (v < 0) {
      throw new ProviderError(
        "bad-counts",
        `${provider}: counts.${what} for the ${name} is negative (${v}); a count over the window must be ≥ 0 (for a Prometheus counter, use increase())`,
      );
    }
  }
  if (e > n) {
    if (e > n * (1 + EXTRAPOLATION_SLACK) + 1) {
      throw new ProviderError(
        "bad-counts",
        `${provider}: the ${name}'s events (${e}) exceed its requests (${n}); the two queries count different things (events: ${eventsFrom})`,
      );
    }
    e = n; // increase() extrapolates each series on its own: a hair over is rounding, not data.
  }
  return { value: n > 0 ? e / n : null, requests: n, events: e };
}
