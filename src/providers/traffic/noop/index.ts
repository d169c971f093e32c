/**
 * A traffic router with no data plane: it remembers what it was told. For controller tests and
 * the controller benchmark, where only the decisions matter.
 *
 * @module
 */

import type { TrafficState } from "../../../rollout/types.js";
import type { Service } from "../../../spec/schema.js";
import type { TrafficRouter } from "../router.js";

export const PROVIDER_TYPE = "noop";

export class NoopTrafficRouter implements TrafficRouter {
  readonly type = PROVIDER_TYPE;
  /** The last state applied per service. */
  readonly states = new Map<string, TrafficState>();
  /** Every apply, in order. */
  applied = 0;
  /** Every configure, in order. */
  configured = 0;
  /** What canaryAvailable answers, per service (default: undefined, i.e. unknown). */
  readonly availability = new Map<string, boolean>();

  /** The services last configured. */
  services: readonly Service[] = [];

  async configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void> {
    this.services = services;
    for (const name of this.states.keys())
      if (!services.some((s) => s.name === name)) this.states.delete(name);
    for (const [name, state] of traffic) this.states.set(name, state);
    this.configured++;
  }

  async apply(service: string, state: TrafficState): Promise<void> {
    this.states.set(service, state);
    this.applied++;
  }

  async verify(service: string, state: TrafficState): Promise<boolean | undefined> {
    const applied = this.states.get(service);
    return applied !== undefined && JSON.stringify(applied) === JSON.stringify(state);
  }

  canaryAvailable(service: string): boolean | undefined {
    return this.availability.get(service);
  }
}
