/**
 * The `builtin` metric provider over the whole fleet: the same queries and figures as over
 * one router (it is the {@link BuiltinProvider}, reading {@link FleetMetrics}), but it first
 * makes sure every router that should have covered the window has reported it. Routers report
 * every 2 s, so the last seconds of a window that ends now usually arrive a moment later: it
 * waits for them, on the injectable clock, up to `waitMs`. A router that still has not covered
 * the window (it stopped reporting, or the control plane lost it) makes the measurement
 * Inconclusive with the routers named: the analysis never judges part of the traffic as if it
 * were all of it.
 *
 * @module
 */

import {
  type MeasureContext,
  type MetricProvider,
  type Observation,
  ProviderError,
} from "../analysis/types.js";
import { BuiltinProvider } from "../providers/metrics/builtin/index.js";
import type { BuiltinSignal } from "../spec/analysis.js";
import type { Clock } from "../util/clock.js";
import type { FleetMetrics } from "./fleet-metrics.js";

export interface FleetMetricDeps {
  metrics: FleetMetrics;
  clock: Clock;
  /** How long to wait for late reports (default 7 s: three report intervals and a margin). */
  waitMs?: number;
  /** How often to look again while waiting (default 250 ms). */
  pollMs?: number;
}

export class FleetMetricProvider implements MetricProvider {
  readonly type = "builtin";
  readonly #inner: BuiltinProvider;
  readonly #deps: FleetMetricDeps;

  constructor(config: { signal: BuiltinSignal }, deps: FleetMetricDeps) {
    this.#inner = new BuiltinProvider(config, deps.metrics);
    this.#deps = deps;
  }

  async measure(from: number, to: number, ctx: MeasureContext): Promise<Observation> {
    const { metrics, clock } = this.#deps;
    const deadline = clock.now() + (this.#deps.waitMs ?? 7_000);
    let gap = metrics.gaps(from, to);
    while (gap?.kind === "not-yet" && clock.now() < deadline && !ctx.signal.aborted) {
      await new Promise<void>((resolve) => {
        const stop = () => {
          t.cancel();
          resolve();
        };
        const t = clock.setTimeout(() => {
          ctx.signal.removeEventListener("abort", stop);
          resolve();
        }, this.#deps.pollMs ?? 250);
        ctx.signal.addEventListener("abort", stop, { once: true });
      });
      gap = metrics.gaps(from, to);
    }
    if (gap !== undefined)
      throw new ProviderError("fleet-incomplete", `builtin (fleet): ${gap.message}`, {
        inconclusive: true,
      });
    return this.#inner.measure(from, to, ctx);
  }
}
