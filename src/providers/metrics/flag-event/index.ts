/**
 * The `flagEvent` metric provider: a business event per exposure of a flag's variants, as
 * applications reported them through the tracking endpoint (`src/tracking/`), in counts form
 * (events = the named event's count, requests = the variant's exposures), so the sequential
 * judge tests the rate with `direction: decrease` ("fewer conversions") and its guarantee.
 *
 * It measures flags only: the subject is `flag:<key>`, the canary the variant being rolled
 * out, the stable the control variant. The spec refuses it on a service's template.
 *
 * @module
 */

import {
  type MeasureContext,
  type MetricProvider,
  type Observation,
  ProviderError,
} from "../../../analysis/types.js";
import { isFlagSubject } from "../../../flags/subjects.js";
import type { FlagWindows } from "../../../tracking/windows.js";
import { countsArm } from "../counts.js";
import { checkAborted, checkWindow } from "../window.js";

export interface FlagEventConfig {
  event: string;
}

export class FlagEventProvider implements MetricProvider {
  readonly type = "flagEvent";
  readonly #event: string;
  readonly #windows: FlagWindows;

  constructor(config: FlagEventConfig, windows: FlagWindows) {
    this.#event = config.event;
    this.#windows = windows;
  }

  async measure(from: number, to: number, ctx: MeasureContext): Promise<Observation> {
    checkWindow("flagEvent", from, to);
    checkAborted("flagEvent", ctx.signal);
    if (!isFlagSubject(ctx.service))
      throw new ProviderError(
        "config",
        `flagEvent: measures a flag's variants (flag:<key>), not the service ${ctx.service}`,
      );
    const arm = (name: "canary" | "stable", variant: string) => {
      const c = this.#windows.eventCounts(ctx.service, variant, this.#event, from, to);
      if (c.seconds === 0)
        throw new ProviderError(
          "no-data",
          `flagEvent: the window [${new Date(from).toISOString()}, ${new Date(to).toISOString()}) is older than the tracked history (spec metrics.window)`,
        );
      return countsArm("flagEvent", name, c.events, c.exposures, {
        events: `${this.#event} events of ${ctx.service} ${variant}`,
        requests: `exposures of ${ctx.service} ${variant}`,
      });
    };
    const canary = arm("canary", ctx.canaryVersion);
    const stable = arm("stable", ctx.stableVersion);
    const adjusted = [canary.adjusted, stable.adjusted].filter((a) => a !== undefined);
    return {
      canary: canary.arm,
      stable: stable.arm,
      from,
      to,
      query: `flagEvent ${this.#event} per exposure of ${ctx.service} ${ctx.canaryVersion} (canary) and ${ctx.stableVersion} (stable)${adjusted.length > 0 ? `; ${adjusted.join("; ")}` : ""}`,
    };
  }
}
