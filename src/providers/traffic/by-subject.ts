/**
 * One provider for the controller, two behind it: services go to the engine, the rollouts of
 * flags (`flag:<key>`, `src/flags/subjects.ts`) to the flags provider. The engine never hears
 * of a flag, and a flag's rollout goes on while the engine is down.
 *
 * @module
 */

import { isFlagSubject } from "../../flags/subjects.js";
import type { TrafficState } from "../../rollout/types.js";
import type { Service } from "../../spec/schema.js";
import type { ServedTraffic, TrafficCapabilities, TrafficProvider } from "./provider.js";

export class BySubject implements TrafficProvider {
  readonly #engine: TrafficProvider;
  readonly #flags: TrafficProvider;

  constructor(engine: TrafficProvider, flags: TrafficProvider) {
    this.#engine = engine;
    this.#flags = flags;
  }

  /** The engine's: what history and status name, and what the spec's services are checked against. */
  get type(): string {
    return this.#engine.type;
  }

  get capabilities(): TrafficCapabilities {
    return this.#engine.capabilities;
  }

  async configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void> {
    const flags = services.filter((s) => isFlagSubject(s.name));
    // Flags first: they cannot fail for an engine's reason, so an engine that is down does
    // not hold a flag's new spec back.
    await this.#flags.configure(flags, traffic);
    if (flags.length === 0) return this.#engine.configure(services, traffic);
    await this.#engine.configure(
      services.filter((s) => !isFlagSubject(s.name)),
      new Map([...traffic].filter(([name]) => !isFlagSubject(name))),
    );
  }

  apply(service: string, state: TrafficState): Promise<void> {
    return this.#for(service).apply(service, state);
  }

  /** Both read back; an engine that cannot be read fails the read, as it would alone. */
  async observe(): Promise<ReadonlyMap<string, ServedTraffic>> {
    const [engine, flags] = await Promise.all([this.#engine.observe(), this.#flags.observe()]);
    if (flags.size === 0) return engine;
    return new Map([...engine, ...flags]);
  }

  finalize(service: string): Promise<void> {
    return this.#for(service).finalize(service);
  }

  canaryAvailable(service: string): boolean | undefined {
    return this.#for(service).canaryAvailable(service);
  }

  async close(): Promise<void> {
    await Promise.all([this.#engine.close(), this.#flags.close()]);
  }

  #for(service: string): TrafficProvider {
    return isFlagSubject(service) ? this.#flags : this.#engine;
  }
}
