/**
 * The traffic provider of flag rollouts: a subject's traffic state becomes what the flags serve
 * (`src/flags/served.ts`), the percent of users who get the new variant, with no engine in
 * between. It is a provider like the others so a flag's rollout goes through the same
 * convergence loop, drift check and history as a service's.
 *
 * What it serves is pushed into the served flags at once, and `observe` reads it back from
 * there, so read-back is what OFREP and the flag set answer, not a copy this class keeps.
 * Flags bucket users themselves (murmur3 of `group:targetingKey`), so a state is served at
 * 0.01 %; routes and mirroring are a service's and are refused.
 *
 * @module
 */

import type { ServedFlags } from "../../../flags/served.js";
import { flagKeyOf } from "../../../flags/subjects.js";
import { stableOnly, trafficFromSpec } from "../../../rollout/traffic.js";
import type { TrafficState } from "../../../rollout/types.js";
import type { Service } from "../../../spec/schema.js";
import { type ServedTraffic, type TrafficProvider, TrafficProviderError } from "../provider.js";
import { servedOf } from "../served.js";
import { FLAG_CAPABILITIES } from "./capabilities.js";

export const PROVIDER_TYPE = "flags";

/** The served flags as a {@link FlagStateSink}: a subject `flag:<key>` is the flag `key`. */
export function flagSink(served: Pick<ServedFlags, "push" | "stateOf">): FlagStateSink {
  const key = (subject: string) => flagKeyOf(subject) ?? subject;
  return {
    push: (subject, state) => served.push(key(subject), state),
    served: (subject) => served.stateOf(key(subject)),
  };
}

/** Where a flag's state is served and read back from (`ServedFlags` by subject name). */
export interface FlagStateSink {
  /** Serve `state` for the subject from now on; null: not at all; undefined: let go of it. */
  push(subject: string, state: TrafficState | null | undefined): void;
  /** The state the subject is served at, as the flags have it; undefined if not served. */
  served(subject: string): TrafficState | undefined;
}

export class FlagTrafficProvider implements TrafficProvider {
  readonly type = PROVIDER_TYPE;
  readonly capabilities = FLAG_CAPABILITIES;
  readonly #sink: FlagStateSink;
  /** Every subject this provider serves. */
  readonly #subjects = new Set<string>();

  constructor(sink: FlagStateSink) {
    this.#sink = sink;
  }

  async configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void> {
    const states = new Map<string, TrafficState>();
    for (const s of services) {
      const state = traffic.get(s.name) ?? this.#sink.served(s.name) ?? initialState(s);
      this.#check(s.name, state);
      states.set(s.name, state);
    }
    for (const name of this.#subjects) if (!states.has(name)) await this.finalize(name);
    for (const [name, state] of states) {
      this.#subjects.add(name);
      this.#sink.push(name, state);
    }
  }

  async apply(service: string, state: TrafficState): Promise<void> {
    this.#check(service, state);
    this.#subjects.add(service);
    this.#sink.push(service, state);
  }

  async observe(): Promise<ReadonlyMap<string, ServedTraffic>> {
    const out = new Map<string, ServedTraffic>();
    for (const name of this.#subjects) {
      const state = this.#sink.served(name);
      if (state !== undefined) out.set(name, servedOf(state));
    }
    return out;
  }

  async finalize(service: string): Promise<void> {
    this.#subjects.delete(service);
    this.#sink.push(service, null);
  }

  /** A variant is code already deployed: it is always there to be served. */
  canaryAvailable(): boolean {
    return true;
  }

  /**
   * This instance stops leading: the flags go back to the store's states, which the next
   * leader moves on (its pushes are not seen here).
   */
  release(): void {
    for (const name of this.#subjects) this.#sink.push(name, undefined);
    this.#subjects.clear();
  }

  async close(): Promise<void> {
    this.release();
  }

  #check(service: string, state: TrafficState): void {
    if (state.mirror !== null)
      throw new TrafficProviderError(
        PROVIDER_TYPE,
        "unsupported",
        `${service}: a flag's rollout cannot mirror requests (setMirror is a service's step)`,
      );
    if (state.headerRoutes.length > 0)
      throw new TrafficProviderError(
        PROVIDER_TYPE,
        "unsupported",
        `${service}: a flag's rollout has no header routes (target a segment with a rule)`,
      );
  }
}

function initialState(s: Service): TrafficState {
  return s.strategy ? stableOnly(trafficFromSpec(s)) : trafficFromSpec(s);
}
