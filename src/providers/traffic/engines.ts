/**
 * Each engine's capabilities by its name in the spec (`dataplane.engine`), for the spec's own
 * checks: a spec asking its engine for something it cannot do is refused where it is loaded.
 *
 * @module
 */

import type { DataplaneSettings } from "../../spec/dataplane.js";
import { EMBEDDED_CAPABILITIES } from "./embedded/capabilities.js";
import { NOOP_CAPABILITIES } from "./noop/capabilities.js";
import type { TrafficCapabilities } from "./provider.js";

export const ENGINE_CAPABILITIES: Record<DataplaneSettings["engine"], TrafficCapabilities> = {
  embedded: EMBEDDED_CAPABILITIES,
  none: NOOP_CAPABILITIES,
  haproxy: EMBEDDED_CAPABILITIES,
  nginx: EMBEDDED_CAPABILITIES,
};
