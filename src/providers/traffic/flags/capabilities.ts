/** What the flags provider serves (no runtime imports: the spec's checks read it). */

import type { TrafficCapabilities } from "../provider.js";

/**
 * A weight to 0.01 % and nothing that routes requests: a flag has no requests of its own, only
 * evaluations, which its own rules and buckets decide.
 */
export const FLAG_CAPABILITIES: TrafficCapabilities = {
  routes: { headers: false, cookies: false, query: false },
  matchKinds: { exact: false, prefix: false, regex: false },
  mirror: false,
  stickiness: { header: false, cookie: false, clientAddress: false, setCookie: false },
  weightStep: 0.01,
  maxTargets: Number.POSITIVE_INFINITY,
  dataPath: false,
};
