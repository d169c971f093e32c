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
import type { TrafficRouter } from "../router.js";

export const PROVIDER_TYPE = "embedded";

export class EmbeddedTrafficRouter implements TrafficRouter {
  readonly type = PROVIDER_TYPE;
  readonly #router: Router;
  readonly #clock: Clock;
  #base: Service[] = [];
  readonly #traffic = new Map<string, TrafficState>();
  /** The last service composed for each name, reused while its spec and traffic are the same objects, so the router recompiles only what changed. */
  readonly #composed = new Map<
    string,
    { base: Service; traffic: TrafficState | undefined; service: Service }
  >();

  constructor(router: Router, clock: Clock) {
    this.#router = router;
    this.#clock = clock;
  }

  /** Replaces the services' spec (match, stickiness, routes...); the traffic states stay. */
  async configure(services: readonly Service[]): Promise<void> {
    this.#base = [...services];
    this.#push();
  }

  async apply(service: string, state: TrafficState): Promise<void> {
    this.#traffic.set(service, state);
    this.#push();
  }

  async verify(service: string, state: TrafficState): Promise<boolean | undefined> {
    const served = this.#router.services.find((s) => s.name === service);
    if (served === undefined) return false;
    return (
      served.stable.version === state.stable.version &&
      (served.canary?.version ?? null) === (state.canary?.version ?? null) &&
      served.weight === (state.canary === null ? 0 : state.weight)
    );
  }

  canaryAvailable(service: string): boolean | undefined {
    const plan = this.#router.plan.services.find((s) => s.name === service);
    if (plan?.canary === undefined) return undefined;
    const now = this.#clock.now();
    return plan.canary.targets.targets.some((t) => t.isAvailable(now));
  }

  #push(): void {
    // A service the controller has not spoken for yet serves its spec, minus any canary a
    // strategy is about to roll out.
    const initial = (s: Service) =>
      s.strategy ? stableOnly(trafficFromSpec(s)) : trafficFromSpec(s);
    const services = this.#base.map((base) => {
      const traffic = this.#traffic.get(base.name);
      const cached = this.#composed.get(base.name);
      if (cached !== undefined && cached.base === base && cached.traffic === traffic)
        return cached.service;
      const service = withTraffic(base, traffic ?? initial(base));
      this.#composed.set(base.name, { base, traffic, service });
      return service;
    });
    this.#router.apply(services);
  }
}
