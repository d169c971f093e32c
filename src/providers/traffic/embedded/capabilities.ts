/** What the embedded provider can serve (no runtime imports: the spec's checks read it). */

import type { TrafficCapabilities } from "../provider.js";

/** The embedded router does everything the spec can say. */
export const EMBEDDED_CAPABILITIES: TrafficCapabilities = {
  routes: { headers: true, cookies: true, query: true },
  matchKinds: { exact: true, prefix: true, regex: true },
  mirror: true,
  stickiness: { header: true, cookie: true, clientAddress: true, setCookie: true },
  weightStep: 0.01,
  maxTargets: Number.POSITIVE_INFINITY,
  dataPath: true,
};
