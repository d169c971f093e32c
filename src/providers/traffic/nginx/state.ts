/**
 * The state of one service as nginx holds it (the body of a PUT to the control server, kept
 * verbatim in the shared dict and in the state file), built from the service's spec and the
 * traffic the controller wants, and read back into what `observe` reports.
 *
 * Everything a request's version choice needs travels here (weight, managed and spec routes,
 * stickiness), so a change of any of them needs no reload; only a new host or path prefix does.
 *
 * @module
 */

import { isIP } from "node:net";
import type { TrafficState } from "../../../rollout/types.js";
import type { RequestMatch, Service, Version } from "../../../spec/schema.js";
import type { ServedTraffic } from "../provider.js";

export interface NginxRoute {
  name?: string;
  /** A managed header route (the rollout's), as opposed to one of the spec's own routes. */
  managed: boolean;
  to: "stable" | "canary";
  match: RequestMatch;
}

export interface NginxState {
  stable: Version;
  canary?: Version;
  weight: number;
  routes: NginxRoute[];
  sticky?: { kind: "header" | "cookie" | "clientAddress"; name?: string; group: string };
}

/** One thing the nginx engine cannot serve, with where it is in the service. */
export interface Unsupported {
  path: string;
  message: string;
}

/** What the engine cannot serve in `service` under `traffic`; empty when it can serve it all. */
export function unsupportedIn(
  service: Service,
  traffic: TrafficState,
  targetSlots: number,
): Unsupported[] {
  const out: Unsupported[] = [];
  const versions: Array<[string, Version]> = [["stable", traffic.stable]];
  if (traffic.canary !== null) versions.push(["canary", traffic.canary]);
  for (const [role, v] of versions) {
    if (v.targets.length > targetSlots)
      out.push({
        path: `${role}.targets`,
        message: `${v.targets.length} targets, but dataplane.nginx.targetSlots is ${targetSlots}`,
      });
    v.targets.forEach((t, i) => {
      const problem = targetProblem(t);
      if (problem !== undefined) out.push({ path: `${role}.targets[${i}]`, message: problem });
    });
  }
  if (traffic.canary !== null && traffic.mirror !== null)
    out.push({ path: "mirror", message: "the nginx engine does not mirror requests" });
  const regexIn = (m: RequestMatch, path: string) => {
    for (const kind of ["headers", "cookies", "query"] as const)
      for (const [name, sm] of Object.entries(m[kind] ?? {}))
        if ("regex" in sm)
          out.push({
            path: `${path}.${kind}.${name}`,
            message:
              "regex matches are not supported by the nginx engine (its regexes backtrack on client values); use exact or prefix",
          });
  };
  traffic.headerRoutes.forEach((r, i) => {
    regexIn(r.match, `headerRoutes[${i}].match`);
  });
  service.routes.forEach((r, i) => {
    regexIn(r.match, `routes[${i}].match`);
  });
  if (service.stickiness?.setCookie)
    out.push({
      path: "stickiness.setCookie",
      message: "the nginx engine does not set sticky cookies",
    });
  return out;
}

/** Why nginx cannot send to `target` without resolving a name or speaking TLS, or undefined. */
function targetProblem(target: string): string | undefined {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return "not a URL";
  }
  if (url.protocol !== "http:") return "the nginx engine sends to http:// targets only";
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) === 0)
    return "the nginx engine needs an IP address here (its balancer resolves no names)";
  return undefined;
}

/** The state nginx serves for `service` under `traffic` (assumed checked with {@link unsupportedIn}). */
export function nginxState(service: Service, traffic: TrafficState): NginxState {
  const canary = traffic.canary;
  const state: NginxState = {
    stable: { version: traffic.stable.version, targets: [...traffic.stable.targets] },
    weight: canary === null ? 0 : traffic.weight,
    routes: [
      ...traffic.headerRoutes.map(
        (r): NginxRoute => ({ name: r.name, managed: true, to: "canary", match: r.match }),
      ),
      ...service.routes.map(
        (r): NginxRoute => ({
          ...(r.name === undefined ? {} : { name: r.name }),
          managed: false,
          to: r.to,
          match: r.match,
        }),
      ),
    ],
  };
  if (canary !== null) state.canary = { version: canary.version, targets: [...canary.targets] };
  const s = service.stickiness;
  if (s !== undefined) {
    const group = s.group ?? service.name;
    if (s.header !== undefined) state.sticky = { kind: "header", name: s.header, group };
    else if (s.cookie !== undefined) state.sticky = { kind: "cookie", name: s.cookie, group };
    else state.sticky = { kind: "clientAddress", group };
  }
  return state;
}

/** What observe reports for a state read back from nginx. */
export function servedOfState(state: NginxState): ServedTraffic {
  const canary = state.canary ?? null;
  return {
    stable: state.stable.version,
    canary: canary?.version ?? null,
    weight: canary === null ? 0 : state.weight,
    routes: canary === null ? [] : state.routes.filter((r) => r.managed).map((r) => r.name ?? ""),
    mirror: null,
    targets: { stable: [...state.stable.targets], canary: canary ? [...canary.targets] : [] },
  };
}

/** The traffic part of a state read back from nginx (to keep it when only the spec changes). */
export function trafficOfState(state: NginxState): TrafficState {
  return {
    stable: state.stable,
    canary: state.canary ?? null,
    weight: state.canary ? state.weight : 0,
    headerRoutes: state.routes
      .filter((r) => r.managed)
      .map((r) => ({ name: r.name ?? "", match: r.match })),
    mirror: null,
  };
}
