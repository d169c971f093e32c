/**
 * From a service's spec and the traffic state the control plane wants, the service the router
 * serves. Managed routes come before the spec's own routes, as Argo's managedRoutes do.
 *
 * @module
 */

import type { Service, Version } from "../spec/schema.js";
import type { TrafficState } from "./types.js";

/** The service as the router should serve it under `traffic`. */
export function withTraffic(base: Service, traffic: TrafficState): Service {
  const service: Service = {
    ...base,
    stable: traffic.stable,
    weight: traffic.canary === null ? 0 : traffic.weight,
    routes: [
      ...traffic.headerRoutes.map((r) => ({ name: r.name, match: r.match, to: "canary" as const })),
      ...base.routes,
    ],
  };
  if (traffic.canary === null) delete service.canary;
  else service.canary = traffic.canary;
  if (traffic.mirror === null || traffic.canary === null) delete service.mirror;
  else service.mirror = traffic.mirror;
  return service;
}

/** The traffic a service's spec describes on its own (no rollout). */
export function trafficFromSpec(service: Service): TrafficState {
  return {
    stable: service.stable,
    canary: service.canary ?? null,
    weight: service.canary ? service.weight : 0,
    headerRoutes: [],
    mirror: service.mirror ?? null,
  };
}

/** Same version name and the same targets in the same order. */
export function sameVersion(a: Version, b: Version): boolean {
  return (
    a.version === b.version &&
    a.targets.length === b.targets.length &&
    a.targets.every((t, i) => t === b.targets[i])
  );
}

/** Traffic with the canary cut off: what an abort leaves. */
export function stableOnly(traffic: TrafficState): TrafficState {
  return { stable: traffic.stable, canary: null, weight: 0, headerRoutes: [], mirror: null };
}
