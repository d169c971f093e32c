/**
 * Counts mode, shared by the providers that have it: one version's numerator (events) and
 * denominator (requests) over a window, checked before the sequential judge sees them.
 *
 * @module
 */

import { type ArmObservation, ProviderError } from "../../analysis/types.js";

/** How far increase()'s extrapolation may carry events past requests before it is an error. */
const EXTRAPOLATION_SLACK = 0.05;

/** The text of the two queries (or path and document) as sent, for the messages. */
export interface CountsQueries {
  events: string;
  requests: string;
}

/** One version's arm, and what was changed in its counts to make it one, if anything. */
export interface CountsArm {
  arm: ArmObservation;
  /** Set when a count was adjusted; the provider puts it in the evidence. */
  adjusted?: string;
}

/**
 * One version's counts as an observation arm; bad answers are errors naming the version.
 *
 * `null` is no series at all and counts 0: a label set never seen (no 5xx yet, no traffic
 * yet) has had none. NaN or ±Inf is not that: it is an answer that was computed and is not a
 * count (a division by zero, a rate over a reset counter), so taking it as 0 would hide a broken
 * query as a healthy canary.
 */
export function countsArm(
  provider: string,
  name: "canary" | "stable",
  events: number | null,
  requests: number | null,
  queries: CountsQueries,
): CountsArm {
  let e = events ?? 0;
  const n = requests ?? 0;
  for (const [what, v] of [
    ["events", e],
    ["requests", n],
  ] as const) {
    if (!Number.isFinite(v)) {
      throw new ProviderError(
        "bad-counts",
        `${provider}: counts.${what} for the ${name} is ${signed(v)}, not a count; a count over the window must be a finite number ≥ 0 (${what}: ${queries[what]})`,
      );
    }
    if (v < 0) {
      throw new ProviderError(
        "bad-counts",
        `${provider}: counts.${what} for the ${name} is negative (${v}); a count over the window must be ≥ 0 (for a Prometheus counter, use increase()) (${what}: ${queries[what]})`,
      );
    }
  }
  let adjusted: string | undefined;
  if (e > n) {
    if (e > n * (1 + EXTRAPOLATION_SLACK) + 1) {
      throw new ProviderError(
        "bad-counts",
        `${provider}: the ${name}'s events (${e}) exceed its requests (${n}); the two queries count different things (events: ${queries.events}; requests: ${queries.requests})`,
      );
    }
    // increase() extrapolates each series on its own: a hair over is rounding, not data.
    adjusted = `${name}: events ${e} clamped to requests ${n}`;
    e = n;
  }
  const arm: ArmObservation = { value: n > 0 ? e / n : null, requests: n, events: e };
  return adjusted === undefined ? { arm } : { arm, adjusted };
}

/** NaN, +Inf or -Inf as Prometheus writes them. */
function signed(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  return v > 0 ? "+Inf" : "-Inf";
}
