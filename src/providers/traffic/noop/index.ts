/**
 * A traffic router with no data plane: it remembers what it was told. For controller tests and
 * the controller benchmark, where only the decisions matter.
 *
 * @module
 */

import { stableOnly, trafficFromSpec } from "../../../rollout/traffic.js";
import type { TrafficState } from "../../../rollout/types.js";
import type { Service } from "../../../spec/schema.js";
import { type ServedTraffic, type TrafficProvider, TrafficProviderError } from "../provider.js";
import { servedOf } from "../served.js";
import { NOOP_CAPABILITIES } from "./capabilities.js";

export const PROVIDER_TYPE = "noop";

export class NoopTrafficProvider implements TrafficProvider {
  readonly type = PROVIDER_TYPE;
  readonly capabilities = NOOP_CAPABILITIES;
  /** The last state applied per service. */
  readonly states = new Map<string, TrafficState>();
  /** Every apply, in order. */
  applied = 0;
  /** Every configure, in order. */
  configured = 0;
  /** What canaryAvailable answers, per service (default: undefined, i.e. unknown). */
  readonly availability = new Map<string, boolean>();

  /**
   * While set, every call fails as an unreachable engine's would, with this message: the
   * convergence loop's tests take the "engine" down and bring it back with it.
   */
  down: string | undefined = undefined;

  /** The services last configured. */
  services: readonly Service[] = [];

  async configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void> {
    this.#reachable();
    this.services = services;
    for (const name of this.states.keys())
      if (!services.some((s) => s.name === name)) this.states.delete(name);
    for (const s of services)
      if (!this.states.has(s.name))
        this.states.set(s.name, s.strategy ? stableOnly(trafficFromSpec(s)) : trafficFromSpec(s));
    for (const [name, state] of traffic) this.states.set(name, state);
    this.configured++;
  }

  async apply(service: string, state: TrafficState): Promise<void> {
    this.#reachable();
    this.states.set(service, state);
    this.applied++;
  }

  async observe(): Promise<ReadonlyMap<string, ServedTraffic>> {
    this.#reachable();
    return new Map([...this.states].map(([name, state]) => [name, servedOf(state)]));
  }

  async finalize(service: string): Promise<void> {
    this.#reachable();
    this.states.delete(service);
    this.services = this.services.filter((s) => s.name !== service);
  }

  async close(): Promise<void> {}

  #reachable(): void {
    if (this.down !== undefined)
      throw new TrafficProviderError(PROVIDER_TYPE, "unreachable", this.down);
  }

  canaryAvailable(service: string): boolean | undefined {
    return this.availability.get(service);
  }
}
