/** What the no-op provider accepts (no runtime imports: the spec's checks read it). */

import { EMBEDDED_CAPABILITIES } from "../embedded/capabilities.js";
import type { TrafficCapabilities } from "../provider.js";

/** It serves nothing, so it can be told anything the embedded router can do; it carries no request. */
export const NOOP_CAPABILITIES: TrafficCapabilities = { ...EMBEDDED_CAPABILITIES, dataPath: false };
