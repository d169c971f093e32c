/** What the noop provider can serve (no runtime imports: the spec's checks read it). */

import type { TrafficCapabilities } from "../provider.js";

/** It serves nothing, so it can be told anything. */
export const NOOP_CAPABILITIES: TrafficCapabilities = {
  routes: { headers: true, cookies: true, query: true },
  matchKinds: { exact: true, prefix: true, regex: true },
  mirror: true,
  stickiness: { header: true, cookie: true, clientAddress: true, setCookie: true },
  weightStep: 0.01,
  maxTargets: Number.POSITIVE_INFINITY,
  dataPath: false,
};
