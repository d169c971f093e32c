/** What nginx with Aviary's Lua serves (see render.ts and lua-module.ts); no runtime imports: the spec's checks read it. */

import type { NginxSettings } from "../../../spec/dataplane.js";
import type { TrafficCapabilities } from "../provider.js";

export function nginxCapabilities(
  settings: Pick<NginxSettings, "targetSlots">,
): TrafficCapabilities {
  return {
    routes: { headers: true, cookies: true, query: true },
    // ngx.re is PCRE (backtracking) and the value is the client's: no regex.
    matchKinds: { exact: true, prefix: true, regex: false },
    mirror: false,
    stickiness: { header: true, cookie: true, clientAddress: true, setCookie: false },
    weightStep: 0.01,
    maxTargets: settings.targetSlots,
    dataPath: true,
  };
}
