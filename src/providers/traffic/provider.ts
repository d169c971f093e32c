/**
 * The seam between the controller and a data plane. A traffic provider makes an engine (the
 * embedded router, HAProxy, nginx, later Gateway API) serve the desired traffic state of each
 * service — weights, managed routes, mirror — and reads back what the engine really serves.
 *
 * Every call is idempotent: it is told the whole state, never a delta, so applying twice is
 * harmless. Every call may fail with a {@link TrafficProviderError}: an external engine can be
 * down, slow, restarted or edited by hand. The controller never undoes a committed decision
 * because an apply failed; it retries until the engine converges (`src/rollout/convergence.ts`).
 *
 * @module
 */

import { AviaryError } from "../../errors.js";
import type { TrafficState } from "../../rollout/types.js";
import type { Service } from "../../spec/schema.js";

/** Why a call to an engine failed. */
export type TrafficErrorKind =
  /** No connection (refused, no such socket, reset before an answer). */
  | "unreachable"
  /** The engine did not answer within the provider's timeout. */
  | "timeout"
  /** The engine answered and refused (an unknown map, a command it rejects). */
  | "refused"
  /** The state asks for something the engine cannot do (a capability it lacks). */
  | "unsupported"
  /** The engine's configuration lacks what Aviary renders for the service: render and reload. */
  | "not-configured";

/** A failed call to an engine, with the engine's name and what kind of failure it was. */
export class TrafficProviderError extends AviaryError {
  readonly engine: string;
  readonly kind: TrafficErrorKind;
  constructor(
    engine: string,
    kind: TrafficErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`AVIARY_TRAFFIC_${kind.toUpperCase().replace("-", "_")}`, message, options);
    this.name = "TrafficProviderError";
    this.engine = engine;
    this.kind = kind;
  }
}

/** What an engine can serve; `aviary validate` refuses a spec asking for more, naming the field. */
export interface TrafficCapabilities {
  /** Which request attributes a match route (spec routes and managed header routes) can test. */
  routes: { headers: boolean; cookies: boolean; query: boolean };
  /** Which value comparisons a match can use. */
  matchKinds: { exact: boolean; prefix: boolean; regex: boolean };
  /** Copying a share of requests to the canary. */
  mirror: boolean;
  /** Which stickiness sources keep a user on one version (Aviary's murmur3 bucket). */
  stickiness: { header: boolean; cookie: boolean; clientAddress: boolean; setCookie: boolean };
  /** The smallest weight step the engine serves exactly, in percent (0.01 is Aviary's own). */
  weightStep: number;
  /** Most targets one version can have (external engines render a fixed number of slots). */
  maxTargets: number;
  /** Whether the engine carries users' requests at all (false for the no-op provider). */
  dataPath: boolean;
}

/** What an engine serves for one service, as read back from it. */
export interface ServedTraffic {
  /** The stable version's name. */
  stable: string;
  /** The canary version's name, or null when no canary is in rotation. */
  canary: string | null;
  /** The canary's share of ordinary traffic, 0-100 (0 without a canary). */
  weight: number;
  /** Names of the managed header routes in force, in order. */
  routes: string[];
  /** Share of requests copied to the canary, or null. */
  mirror: number | null;
  /** The targets each version is sent to, as the engine has them (for drift on a target change). */
  targets: { stable: string[]; canary: string[] };
}

export interface TrafficProvider {
  /** The provider's name (`embedded`, `haproxy`, `nginx`, `noop`), for logs, history and errors. */
  readonly type: string;
  readonly capabilities: TrafficCapabilities;
  /**
   * Serves exactly `services` from now on: each as its spec says it is reached, with the
   * traffic `traffic` names for it. A service Aviary manages in the engine but left out of
   * `services` is finalized; one left out of `traffic` keeps the traffic it had, or starts from
   * its spec. On a throw, what the engine served before stays as it was as far as the engine
   * allows (the embedded router swaps in one step).
   */
  configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void>;
  /** Makes the engine serve `state` for `service`. Touches no other service. */
  apply(service: string, state: TrafficState): Promise<void>;
  /**
   * What the engine serves now, for every service Aviary manages in it, in one read. A service
   * the engine does not serve (never configured, finalized, lost on a restart) is absent.
   */
  observe(): Promise<ReadonlyMap<string, ServedTraffic>>;
  /** Removes everything Aviary added to the engine for `service`. Idempotent. */
  finalize(service: string): Promise<void>;
  /** Whether the canary has at least one target in rotation; undefined when unknown. */
  canaryAvailable(service: string): boolean | undefined;
  /** Lets go of connections and timers; the engine keeps serving what it was last told. */
  close(): Promise<void>;
}
