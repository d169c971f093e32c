/**
 * The router's compiled configuration: everything a request needs, resolved ahead of time so
 * the hot path does no parsing, no lookups by name and no allocation for the decision.
 * A plan is immutable; a configuration change builds a new one and swaps it in whole.
 *
 * @module
 */

import type { PrefixedHasher } from "./hash.js";
import type { RequestPredicate } from "./match.js";
import type { Recorder, Role } from "./metrics/registry.js";
import type { HeaderSlots } from "./request-view.js";
import type { TargetGroup } from "./targets.js";

/** One version as the router sees it: where to send, and where to count. */
export interface VersionPlan {
  readonly service: string;
  readonly name: string;
  readonly role: Role;
  readonly targets: TargetGroup;
  readonly recorder: Recorder;
}

export type StickyPlan =
  | { readonly kind: "header"; readonly slot: number }
  | {
      readonly kind: "cookie";
      readonly slot: number;
      readonly name: string;
      /** Set-Cookie attributes for a new id, or undefined when Aviary must not set one. */
      readonly setCookieSuffix: string | undefined;
    }
  | { readonly kind: "clientAddress" };

export interface RoutePlan {
  readonly test: RequestPredicate;
  readonly to: VersionPlan;
}

export interface MirrorPlan {
  /** Mirror when a uniform draw in [0, 10000) falls below this. */
  readonly thresholdBp: number;
  readonly test: RequestPredicate | undefined;
  readonly methods: ReadonlySet<string>;
  /** The canary, recorded under role "mirror". */
  readonly to: VersionPlan;
}

export interface ServicePlan {
  readonly name: string;
  /** Lower-case host without port, or undefined for any host. */
  readonly host: string | undefined;
  readonly pathPrefix: string;
  readonly stable: VersionPlan;
  readonly canary: VersionPlan | undefined;
  /** Canary share in basis points of the bucket space (weight × 100). */
  readonly weightBp: number;
  readonly routes: readonly RoutePlan[];
  readonly sticky: StickyPlan | undefined;
  readonly bucketer: PrefixedHasher;
  readonly mirror: MirrorPlan | undefined;
  readonly responseTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

export interface RouterPlan {
  /** Most specific first: a host beats no host, then the longer path prefix wins. */
  readonly services: readonly ServicePlan[];
  readonly slots: HeaderSlots;
  readonly hostSlot: number;
  /** Monotonic; tells which configuration served a request. */
  readonly generation: number;
  /** Whether a client address is one of `proxy.trustedProxies`; undefined when none is. */
  readonly trustedProxy: ((address: string) => boolean) | undefined;
}
