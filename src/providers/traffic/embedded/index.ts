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
import { ServedSnapshots } from "./served-snapshots.js";

export const PROVIDER_TYPE = "embedded";

export class EmbeddedTrafficProvider implements TrafficProvider {
  readonly type = PROVIDER_TYPE;
  readonly capabilities = EMBEDDED_CAPABILITIES;
  readonly #router: Router;
  readonly #clock: Clock;
  /** The services' spec by name, in the spec's order. */
  #base = new Map<string, Service>();
  #traffic = new Map<string, TrafficState>();
  /**
   * The last service composed for each name, reused while its spec and traffic are the same
   * objects (so the router recompiles only what changed), with what it serves.
   */
  readonly #composed = new Map<string, Composed>();
  /** What each service in the spec is served, read by {@link observe} without a copy per read. */
  readonly #served = new ServedSnapshots();

  constructor(router: Router, clock: Clock) {
    this.#router = router;
    this.#clock = clock;
  }

  /** Replaces the services' spec (match, stickiness, routes...) and their traffic in one swap. */
  async configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void> {
    const base = new Map(services.map((s) => [s.name, s]));
    const next = new Map([...this.#traffic].filter(([name]) => base.has(name)));
    for (const [name, state] of traffic) if (base.has(name)) next.set(name, state);
    const composed = [...base.values()].map((spec) => this.#compose(spec, next.get(spec.name)));
    // Remembered only once the router took them: should it throw, what this remembers stays
    // what the router serves.
    this.#router.apply(composed.map((c) => c.service));
    this.#base = base;
    this.#traffic = next;
    for (const c of composed) {
      this.#composed.set(c.base.name, c);
      this.#served.set(c.base.name, c.served);
    }
    for (const name of [...this.#composed.keys()])
      if (!base.has(name)) {
        this.#composed.delete(name);
        this.#served.delete(name);
      }
  }

  /** One service's traffic: the router recompiles that service only. */
  async apply(service: string, state: TrafficState): Promise<void> {
    const spec = this.#base.get(service);
    if (spec !== undefined) {
      const composed = this.#compose(spec, state);
      this.#router.applyService(composed.service);
      this.#composed.set(service, composed);
      this.#served.set(service, composed.served);
    }
    // A service not in the spec yet keeps its traffic for when a configure brings it.
    this.#traffic.set(service, state);
  }

  /** What the router took last: its swap is atomic, so what it took is what it serves. */
  async observe(): Promise<ReadonlyMap<string, ServedTraffic>> {
    return this.#served.snapshot();
  }

  async finalize(service: string): Promise<void> {
    if (!this.#base.has(service)) return;
    this.#router.removeService(service);
    this.#base.delete(service);
    this.#traffic.delete(service);
    this.#composed.delete(service);
    this.#served.delete(service);
  }

  async close(): Promise<void> {}

  canaryAvailable(service: string): boolean | undefined {
    const plan = this.#router.servicePlan(service);
    if (plan?.canary === undefined) return undefined;
    const now = this.#clock.now();
    return plan.canary.targets.targets.some((t) => t.isAvailable(now));
  }

  /** The service `spec` is under `state` (its initial traffic when the controller set none). */
  #compose(spec: Service, state: TrafficState | undefined): Composed {
    const cached = this.#composed.get(spec.name);
    if (cached !== undefined && cached.base === spec && cached.traffic === state) return cached;
    const effective = state ?? initialTraffic(spec);
    return {
      base: spec,
      traffic: state,
      service: withTraffic(spec, effective),
      served: servedOf(effective),
    };
  }
}

interface Composed {
  base: Service;
  traffic: TrafficState | undefined;
  service: Service;
  served: ServedTraffic;
}

/**
 * A service the controller has not spoken for yet serves its spec, minus any canary a strategy
 * is about to roll out.
 */
function initialTraffic(s: Service): TrafficState {
  return s.strategy ? stableOnly(trafficFromSpec(s)) : trafficFromSpec(s);
}
