/**
 * The `builtin` metric provider: the embedded router's own per-version figures, canary and
 * stable over the same window, straight from the {@link MetricsRegistry} — no network, no
 * scrape delay, one-second resolution.
 *
 * Per arm it gives the signal's value for the whole window, the request and error counts, the
 * merged latency sketch, slow counts for the judge's edges (see `slow.ts` for how exact they
 * are), and a series of the signal inside the window: one point per second, or per
 * ⌈seconds / maxPoints⌉ seconds when the window is longer than `maxPoints` seconds (300 by
 * default, so a 15-minute window gives 300 points of 3 s). A step without requests gives no
 * point, and an arm without requests has the value null: no traffic is no data, never a zero.
 *
 * @module
 */

import {
  type ArmObservation,
  type MeasureContext,
  type MetricProvider,
  type Observation,
  ProviderError,
} from "../../../analysis/types.js";
import type { WindowQuery, WindowSummary } from "../../../dataplane/metrics/registry.js";
import type { BuiltinSignal } from "../../../spec/analysis.js";
import { checkAborted, checkWindow } from "../window.js";
import { slowCounts } from "./slow.js";

/** What the provider reads: a {@link MetricsRegistry} (only its window query). */
export interface MetricsSource {
  query(q: WindowQuery): WindowSummary;
}

export interface BuiltinConfig {
  signal: BuiltinSignal;
}

export interface BuiltinOptions {
  /** Most series points per arm (default 300); longer windows use steps of several seconds. */
  maxPoints?: number;
}

export const DEFAULT_MAX_POINTS = 300;

export class BuiltinProvider implements MetricProvider {
  readonly type = "builtin";
  readonly #signal: BuiltinSignal;
  readonly #metrics: MetricsSource;
  readonly #maxPoints: number;

  constructor(config: BuiltinConfig, metrics: MetricsSource, opts: BuiltinOptions = {}) {
    this.#signal = config.signal;
    this.#metrics = metrics;
    this.#maxPoints = opts.maxPoints ?? DEFAULT_MAX_POINTS;
    if (!Number.isInteger(this.#maxPoints) || this.#maxPoints < 1) {
      throw new RangeError(`builtin maxPoints must be an integer ≥ 1, got ${this.#maxPoints}`);
    }
  }

  async measure(from: number, to: number, ctx: MeasureContext): Promise<Observation> {
    checkWindow("builtin", from, to);
    checkAborted("builtin", ctx.signal);
    const canary = this.#arm(ctx.service, ctx.canaryVersion, from, to, ctx);
    const stable = this.#arm(ctx.service, ctx.stableVersion, from, to, ctx);
    return {
      canary,
      stable,
      from,
      to,
      query: `builtin ${this.#signal} of ${ctx.service} ${ctx.canaryVersion} (canary) and ${ctx.stableVersion} (stable)`,
    };
  }

  #arm(
    service: string,
    version: string,
    from: number,
    to: number,
    ctx: MeasureContext,
  ): ArmObservation {
    const whole = this.#query(service, version, from, to);
    if (whole.seconds === 0) {
      throw new ProviderError(
        "no-data",
        `builtin: the window [${iso(from)}, ${iso(to)}) is older than the router's metrics history (spec metrics.window)`,
      );
    }
    let slow: number[];
    try {
      slow = slowCounts(whole.sketch, ctx.slowEdgesMs);
    } catch (err) {
      throw new ProviderError("slow-edges", `builtin: ${(err as Error).message}`, { cause: err });
    }
    return {
      value: whole.requests > 0 ? signalValue(this.#signal, whole) : null,
      requests: whole.requests,
      errors: whole.errors,
      slow,
      series: whole.requests > 0 ? this.#series(service, version, whole.from, to, ctx.signal) : [],
      sketch: whole.sketch,
    };
  }

  /** Per-step values over [from, to), steps aligned on whole seconds as the registry counts them. */
  #series(
    service: string,
    version: string,
    from: number,
    to: number,
    signal: AbortSignal,
  ): number[] {
    // The registry counts a second when its start lies in the window.
    const first = Math.ceil(from / 1000);
    const last = Math.ceil(to / 1000) - 1;
    const seconds = last - first + 1;
    const step = Math.max(1, Math.ceil(seconds / this.#maxPoints));
    const out: number[] = [];
    for (let s = first; s <= last; s += step) {
      checkAborted("builtin", signal);
      const qFrom = Math.max(from, s * 1000);
      const qTo = Math.min(to, (s + step) * 1000);
      const w = this.#query(service, version, qFrom, qTo);
      if (w.requests === 0) continue;
      const v =
        this.#signal === "requestRate"
          ? w.requests / Math.min(step, last - s + 1)
          : signalValue(this.#signal, w);
      if (v !== null) out.push(v);
    }
    return out;
  }

  #query(service: string, version: string, from: number, to: number): WindowSummary {
    try {
      return this.#metrics.query({ service, version, from, to });
    } catch (err) {
      throw new ProviderError(
        "internal",
        `builtin: the router's metrics could not answer for ${service} ${version}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}

/** The signal's figure in a summary; null when it is not a finite number (no data). */
function signalValue(signal: BuiltinSignal, w: WindowSummary): number | null {
  const v =
    signal === "errorRate"
      ? w.errorRate
      : signal === "requestRate"
        ? w.rps
        : signal === "latencyP50"
          ? w.latencyMs.p50
          : signal === "latencyP95"
            ? w.latencyMs.p95
            : w.latencyMs.p99;
  return Number.isFinite(v) ? v : null;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
