/**
 * The embedded data plane as a traffic router: the spec says how each service is reached, the
 * controller says which versions get what share, and this joins the two into the services the
 * in-process {@link Router} serves.
 *
 * @module
 */

import type { Router } from "../../../dataplane/router.js";
import { stableOnly, trafficFromSpec, withTraffic } from "../../../rollout/traffic.js";
import type { TrafficState } from "../../../rollout/types.js";
import type { Service } from "../../../spec/schema.js";
import type { Clock } from "../../../util/clock.js";
import type { ServedTraffic, TrafficProvider } from "../provider.js";
import { servedOf } from "../served.js";
import { EMBEDDED_CAPABILITIES } from "./capabilities.js";

export const PROVIDER_TYPE = "embedded";

export class EmbeddedTrafficProvider implements TrafficProvider {
  readonly type = PROVIDER_TYPE;
  readonly capabilities = EMBEDDED_CAPABILITIES;
  readonly #router: Router;
  readonly #clock: Clock;
  #base: Service[] = [];
  #traffic = new Map<string, TrafficState>();
  /** The last service composed for each name, reused while its spec and traffic are the same objects, so the router recompiles only what changed. */
  readonly #composed = new Map<
    string,
    { base: Service; traffic: TrafficState | undefined; service: Service }
  >();

  constructor(router: Router, clock: Clock) {
    this.#router = router;
    this.#clock = clock;
  }

  /** Replaces the services' spec (match, stickiness, routes...) and their traffic in one swap. */
  async configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void> {
    const names = new Set(services.map((s) => s.name));
    const next = new Map([...this.#traffic].filter(([name]) => names.has(name)));
    for (const [name, state] of traffic) if (names.has(name)) next.set(name, state);
    this.#swap([...services], next);
  }

  async apply(service: string, state: TrafficState): Promise<void> {
    this.#swap(this.#base, new Map(this.#traffic).set(service, state));
  }

  /** What the router took last: its swap is atomic, so what it took is what it serves. */
  async observe(): Promise<ReadonlyMap<string, ServedTraffic>> {
    const out = new Map<string, ServedTraffic>();
    for (const spec of this.#base)
      out.set(spec.name, servedOf(this.#traffic.get(spec.name) ?? initialTraffic(spec)));
    return out;
  }

  async finalize(service: string): Promise<void> {
    if (!this.#base.some((s) => s.name === service)) return;
    const traffic = new Map(this.#traffic);
    traffic.delete(service);
    this.#swap(
      this.#base.filter((s) => s.name !== service),
      traffic,
    );
  }

  async close(): Promise<void> {}

  canaryAvailable(service: string): boolean | undefined {
    const plan = this.#router.plan.services.find((s) => s.name === service);
    if (plan?.canary === undefined) return undefined;
    const now = this.#clock.now();
    return plan.canary.targets.targets.some((t) => t.isAvailable(now));
  }

  /**
   * Serves `base` under `traffic`, remembering both only once the router took them: should it
   * throw, what this remembers stays what the router serves.
   */
  #swap(base: Service[], traffic: Map<string, TrafficState>): void {
    this.#router.apply(this.#compose(base, traffic));
    this.#base = base;
    this.#traffic = traffic;
    for (const name of this.#composed.keys())
      if (!base.some((s) => s.name === name)) this.#composed.delete(name);
  }

  #compose(base: readonly Service[], traffic: ReadonlyMap<string, TrafficState>): Service[] {
    return base.map((spec) => {
      const state = traffic.get(spec.name);
      const cached = this.#composed.get(spec.name);
      if (cached !== undefined && cached.base === spec && cached.traffic === state)
        return cached.service;
      const service = withTraffic(spec, state ?? initialTraffic(spec));
      this.#composed.set(spec.name, { base: spec, traffic: state, service });
      return service;
    });
  }
}

/**
 * A service the controller has not spoken for yet serves its spec, minus any canary a strategy
 * is about to roll out.
 */
function initialTraffic(s: Service): TrafficState {
  return s.strategy ? stableOnly(trafficFromSpec(s)) : trafficFromSpec(s);
}
