/**
 * Each engine's capabilities from the spec's `dataplane` section, for the spec's own checks: a
 * spec asking its engine for something it cannot do is refused where it is loaded.
 *
 * @module
 */

import type { DataplaneSettings } from "../../spec/dataplane.js";
import { EMBEDDED_CAPABILITIES } from "./embedded/capabilities.js";
import { FLEET_CAPABILITIES } from "./fleet/capabilities.js";
import { haproxyCapabilities } from "./haproxy/capabilities.js";
import { nginxCapabilities } from "./nginx/capabilities.js";
import { NOOP_CAPABILITIES } from "./noop/capabilities.js";
import type { TrafficCapabilities } from "./provider.js";

/** Undefined when the section lacks the engine's settings (the schema says so already). */
export function engineCapabilities(d: DataplaneSettings): TrafficCapabilities | undefined {
  switch (d.engine) {
    case "embedded":
      return EMBEDDED_CAPABILITIES;
    case "fleet":
      return FLEET_CAPABILITIES;
    case "none":
      return NOOP_CAPABILITIES;
    case "haproxy":
      return d.haproxy && haproxyCapabilities(d.haproxy);
    case "nginx":
      return d.nginx && nginxCapabilities(d.nginx);
  }
}
