/** What the fleet provider can serve (no runtime imports: the spec's checks read it). */

import { EMBEDDED_CAPABILITIES } from "../embedded/capabilities.js";
import type { TrafficCapabilities } from "../provider.js";

/** Every router of the fleet is the embedded router: it serves everything the spec can say. */
export const FLEET_CAPABILITIES: TrafficCapabilities = EMBEDDED_CAPABILITIES;
