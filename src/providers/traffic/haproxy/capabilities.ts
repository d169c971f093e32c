/** What HAProxy 2.6 serves when Aviary drives it (no runtime imports: the spec's checks read it). */

import type { HaproxySettings } from "../../../spec/dataplane.js";
import type { TrafficCapabilities } from "../provider.js";

export function haproxyCapabilities(
  settings: Pick<HaproxySettings, "targetSlots">,
): TrafficCapabilities {
  return {
    routes: { headers: true, cookies: true, query: true },
    // HAProxy's regexes are PCRE (backtracking) on client values: exact and prefix only.
    matchKinds: { exact: true, prefix: true, regex: false },
    // HAProxy 2.6 has no request mirroring.
    mirror: false,
    // setCookie: Aviary does not mint sticky ids in HAProxy.
    stickiness: { header: true, cookie: true, clientAddress: true, setCookie: false },
    // The map holds basis points, the Lua bucket has 10,000 values: Aviary's own step.
    weightStep: 0.01,
    maxTargets: settings.targetSlots,
    dataPath: true,
  };
}
