/**
 * The analysis seams: what a metric provider observes for one window, and what a judge
 * concludes from it. Providers and judges are chosen per metric in an analysis template;
 * the runner (`runner.ts`) schedules measurements and folds verdicts into a run's phase.
 *
 * @module
 */

import type { DDSketch } from "@datadog/sketches-js";

/** How one measurement ends (Argo Rollouts' phases). */
export type MeasurementPhase = "Successful" | "Failed" | "Inconclusive" | "Error";

/** What was seen of one arm (the canary, or the stable baseline) in one window. */
export interface ArmObservation {
  /** The metric's value for the window (error rate as a fraction, latency in ms, a business number...); null when there was no data. */
  value: number | null;
  /** Requests in the window, when the provider counts them. */
  requests?: number;
  /** Errors in the window (5xx and failed requests), when the provider counts them. */
  errors?: number;
  /**
   * A counts-mode metric's numerator in the window (errors, slow requests, orders...), with
   * `requests` as its denominator (requests, sessions...): what the sequential judge tests as a
   * rate when the numbers come from Prometheus or another source instead of the router.
   */
  events?: number;
  /**
   * Requests slower than each edge (ms), when the provider can count them: `slow[i]` is the
   * number of requests in the window with latency > `slowEdgesMs[i]` (edges are given by the
   * judge in the measurement context, so they are fixed before the data is seen).
   */
  slow?: number[];
  /** Per-step values inside the window (e.g. one per second or per scrape step), for series judges such as Mann-Whitney. */
  series?: number[];
  /** The latency distribution of the window, when the provider has one (ms). */
  sketch?: DDSketch;
}

/** One provider answer: the canary always; the stable baseline when the provider can tell them apart. */
export interface Observation {
  canary: ArmObservation;
  stable?: ArmObservation;
  /** The window observed, epoch ms, [from, to). */
  from: number;
  to: number;
  /** The resolved query or URL, for the evidence (never a secret). */
  query?: string;
}

/** Everything a provider needs to know about the rollout being measured. */
export interface MeasureContext {
  service: string;
  canaryVersion: string;
  stableVersion: string;
  /** Template args after substitution (`{{args.NAME}}`). */
  args: Readonly<Record<string, string>>;
  /** Latency edges (ms) for which the judge wants slow-request counts. */
  slowEdgesMs: readonly number[];
  signal: AbortSignal;
}

/** A provider's failure: becomes an Error measurement, never an exception out of the runner. */
export class ProviderError extends Error {
  readonly code: string;
  /**
   * The provider could not see all of the window's traffic (a router of the fleet did not
   * report it): the measurement is Inconclusive, never judged on the part it has.
   */
  readonly inconclusive: boolean;
  constructor(
    code: string,
    message: string,
    options?: { cause?: unknown; inconclusive?: boolean },
  ) {
    super(message, options);
    this.code = code;
    this.inconclusive = options?.inconclusive ?? false;
    this.name = "ProviderError";
  }
}

export interface MetricProvider {
  /** The provider's name as written in specs (`builtin`, `prometheus`, `web`). */
  readonly type: string;
  /** Observes [from, to). Throws ProviderError on failure (unreachable, bad answer, timeout). */
  measure(from: number, to: number, ctx: MeasureContext): Promise<Observation>;
}

/** What a judge concludes from one observation. */
export interface Verdict {
  phase: MeasurementPhase;
  /** The number the verdict is about (e.g. the canary's error rate, or the e-value), null if none. */
  value: number | null;
  /** One sentence an operator can read: the value next to the condition, and why. */
  message: string;
  /** Effect, bounds, p-value or e-value, sample sizes... whatever supports the verdict. */
  evidence: Record<string, unknown>;
}

/**
 * A judge for one metric of one analysis run. Judges that accumulate evidence across
 * measurements (the sequential one) keep it in `state`, which the runner persists with each
 * measurement and hands back after a restart, so no evidence is lost or counted twice.
 */
export interface Judge {
  readonly type: string;
  /** Whether each observation should cover only the time since the previous one ("interval") or the whole run so far ("cumulative"). */
  readonly window: "interval" | "cumulative";
  /** Latency edges (ms) the judge wants slow counts for; empty when it needs none. */
  readonly slowEdgesMs: readonly number[];
  judge(obs: Observation, now: number): Verdict;
  /** JSON-serialisable state after the last judgement. */
  state(): unknown;
  /** Restores state saved by {@link state}. */
  restore(state: unknown): void;
}
