/**
 * The per-request routing decision: which service, then which version. In order: a match
 * route decides if one matches; otherwise the stickiness key's bucket is compared with the
 * weight; without a key, a fresh uniform draw decides.
 *
 * @module
 */

import type { RouterPlan, ServicePlan, VersionPlan } from "./plan.js";
import { type RequestView, readCookie } from "./request-view.js";

/** A request view that can carry a newly minted sticky id back to the response. */
export interface Decidable extends RequestView {
  /** Set by {@link chooseVersion} when the response must set the sticky cookie to this id. */
  stickyIdToSet: string | undefined;
}

/** The most specific service whose host and path prefix match, or undefined. */
export function findService(
  plan: RouterPlan,
  host: string | undefined,
  url: string,
): ServicePlan | undefined {
  // The Host header is normalised only if some service matches on it.
  let h: string | undefined | null = null;
  for (const svc of plan.services) {
    if (svc.host !== undefined) {
      if (h === null) h = host === undefined ? undefined : hostWithoutPort(host);
      if (svc.host !== h) continue;
    }
    if (matchesPrefix(url, svc.pathPrefix)) return svc;
  }
  return undefined;
}

/** Chooses stable or canary for one request of `svc`. */
export function chooseVersion(
  svc: ServicePlan,
  req: Decidable,
  random: () => number = Math.random,
): VersionPlan {
  for (const route of svc.routes) if (route.test(req)) return route.to;
  const canary = svc.canary;
  if (canary === undefined || svc.weightBp <= 0) return svc.stable;
  if (svc.weightBp >= 10_000) return canary;
  const key = stickyKey(svc, req);
  const bucket = key === undefined ? Math.floor(random() * 10_000) : svc.bucketer.bucket(key);
  return bucket < svc.weightBp ? canary : svc.stable;
}

function stickyKey(svc: ServicePlan, req: Decidable): string | undefined {
  const sticky = svc.sticky;
  if (sticky === undefined) return undefined;
  switch (sticky.kind) {
    case "header":
      return req.headers[sticky.slot] || undefined;
    case "clientAddress":
      return req.clientAddress;
    case "cookie": {
      const value = readCookie(req.headers[sticky.slot], sticky.name);
      if (value) return value;
      if (sticky.setCookieSuffix === undefined) return undefined;
      const id = crypto.randomUUID();
      req.stickyIdToSet = id;
      return id;
    }
  }
}

/** Path-prefix matching by whole segments: `/api` matches `/api`, `/api/x` and `/api?q`, not `/apix`. */
export function matchesPrefix(url: string, prefix: string): boolean {
  if (!url.startsWith(prefix)) return false;
  if (url.length === prefix.length || prefix.endsWith("/")) return true;
  const next = url.charCodeAt(prefix.length);
  return next === 47 /* / */ || next === 63 /* ? */;
}

function hostWithoutPort(host: string): string {
  // "[::1]:8080" keeps its brackets; "example.com:8080" loses the port.
  const colon = host.lastIndexOf(":");
  const h = colon > host.lastIndexOf("]") ? host.slice(0, colon) : host;
  return h.toLowerCase();
}
