/**
 * The seam between the controller and a data plane. A traffic router applies the desired
 * traffic state of one service (weights, managed routes, mirror): the embedded router first,
 * later nginx, HAProxy, Gateway API. Every call is idempotent: it is told the state, never a
 * delta, so applying twice is harmless.
 *
 * @module
 */

import type { TrafficState } from "../../rollout/types.js";
import type { Service } from "../../spec/schema.js";

export interface TrafficRouter {
  /** The provider's name, for logs and history. */
  readonly type: string;
  /**
   * Serves exactly `services` from now on, in one step: each as its spec says it is reached
   * (match, its own routes), with the traffic `traffic` names for it. A service left out of
   * `services` is no longer served and its traffic is forgotten; one left out of `traffic`
   * keeps the traffic it had, or starts from its spec. On a throw, the router keeps serving
   * what it served before, unchanged.
   */
  configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void>;
  /** Makes the data plane serve `state` for `service`. */
  apply(service: string, state: TrafficState): Promise<void>;
  /** True once the data plane serves `state`; undefined when this router cannot tell. */
  verify(service: string, state: TrafficState): Promise<boolean | undefined>;
  /** Whether the canary has at least one target in rotation; undefined when unknown. */
  canaryAvailable(service: string): boolean | undefined;
}
