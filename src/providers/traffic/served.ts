/**
 * Desired traffic as an engine would report it, and the difference between the two in words:
 * what the convergence loop compares every tick, and what a drift event says.
 *
 * @module
 */

import type { TrafficState } from "../../rollout/types.js";
import type { ServedTraffic } from "./provider.js";

/** What an engine serving `state` reports through `observe`. */
export function servedOf(state: TrafficState): ServedTraffic {
  const canary = state.canary;
  return {
    stable: state.stable.version,
    canary: canary?.version ?? null,
    weight: canary === null ? 0 : state.weight,
    routes: canary === null ? [] : state.headerRoutes.map((r) => r.name),
    mirror: canary === null || state.mirror === null ? null : state.mirror.percent,
    targets: {
      stable: [...state.stable.targets],
      canary: canary === null ? [] : [...canary.targets],
    },
  };
}

/**
 * How `observed` differs from `desired`, in words (`weight 25 → 0; route beta missing`), or
 * undefined when the engine serves what it should. `observed` undefined: the engine does not
 * serve the service at all.
 */
export function trafficDrift(
  desired: ServedTraffic,
  observed: ServedTraffic | undefined,
): string | undefined {
  if (observed === undefined) return "the engine does not serve it";
  const out: string[] = [];
  if (observed.stable !== desired.stable)
    out.push(`stable ${desired.stable} but ${observed.stable} served`);
  if (observed.canary !== desired.canary)
    out.push(`canary ${desired.canary ?? "none"} but ${observed.canary ?? "none"} served`);
  if (Math.abs(observed.weight - desired.weight) > 1e-9)
    out.push(`weight ${desired.weight} but ${observed.weight} served`);
  const routes = (r: string[]) => r.join(",");
  if (routes(observed.routes) !== routes(desired.routes))
    out.push(`routes [${desired.routes.join(", ")}] but [${observed.routes.join(", ")}] served`);
  if (observed.mirror !== desired.mirror)
    out.push(`mirror ${desired.mirror ?? "off"} but ${observed.mirror ?? "off"} served`);
  const targets = (t: string[]) => t.join(" ");
  if (targets(observed.targets.stable) !== targets(desired.targets.stable))
    out.push(
      `stable targets ${targets(desired.targets.stable)} but ${targets(observed.targets.stable)} served`,
    );
  if (
    desired.canary !== null &&
    targets(observed.targets.canary) !== targets(desired.targets.canary)
  )
    out.push(
      `canary targets ${targets(desired.targets.canary)} but ${targets(observed.targets.canary) || "none"} served`,
    );
  return out.length === 0 ? undefined : out.join("; ");
}
