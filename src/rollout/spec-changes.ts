/**
 * What applying a spec would change, service by service: the diff `aviary apply` shows, and
 * the actions the controller then takes. Pure: it compares the new spec with the previous one
 * and with what the store says is running.
 *
 * @module
 */

import type { Service, Version } from "../spec/schema.js";
import { sameJson } from "../util/same-json.js";
import { sameVersion, trafficFromSpec } from "./traffic.js";
import type { Rollout, ServiceState, TrafficState } from "./types.js";
import { TERMINAL_PHASES } from "./types.js";

export type SpecChange =
  | { kind: "create"; service: string; summary: string }
  | { kind: "deploy"; service: string; canary: Version; summary: string }
  | { kind: "abort"; service: string; summary: string }
  | { kind: "traffic"; service: string; traffic: TrafficState; summary: string }
  | { kind: "config"; service: string; summary: string }
  | { kind: "remove"; service: string; summary: string };

type Current = (name: string) => { state: ServiceState | undefined; rollout: Rollout | undefined };

/**
 * `stored` names every service the store holds: one the new spec leaves out is removed, whether
 * it left since the last apply or while Aviary was stopped.
 */
export function planSpecChanges(
  services: readonly Service[],
  previous: ReadonlyMap<string, Service>,
  current: Current,
  stored: Iterable<string>,
): SpecChange[] {
  const changes: SpecChange[] = [];
  for (const svc of services) {
    const { state, rollout } = current(svc.name);
    if (state === undefined) {
      const canary = svc.canary
        ? svc.strategy
          ? `, then roll out ${svc.canary.version}`
          : `, canary ${svc.canary.version} at ${svc.weight}%`
        : "";
      changes.push({
        kind: "create",
        service: svc.name,
        summary: `new service ${svc.name}: stable ${svc.stable.version}${canary}`,
      });
      continue;
    }
    const active =
      rollout !== undefined && !TERMINAL_PHASES.has(rollout.phase) ? rollout : undefined;
    const stable = state.traffic.stable;
    const old = previous.get(svc.name);
    if (svc.strategy !== undefined) {
      changes.push(...strategyChanges(svc, old, stable, rollout, active));
    } else {
      if (active) {
        changes.push({
          kind: "abort",
          service: svc.name,
          summary: `the spec no longer has a strategy: rollout of ${active.canary.version} aborted`,
        });
      }
      const traffic = trafficFromSpec(svc);
      if (!sameJson(traffic, state.traffic)) {
        changes.push({
          kind: "traffic",
          service: svc.name,
          traffic,
          summary: describeTraffic(state.traffic, traffic),
        });
      }
    }
    if (old !== undefined) {
      const fields = changedConfig(old, svc);
      if (fields.length > 0)
        changes.push({
          kind: "config",
          service: svc.name,
          summary: `changed ${fields.join(", ")}`,
        });
    }
  }
  const named = new Set(services.map((s) => s.name));
  for (const name of [...new Set(stored)].sort()) {
    if (named.has(name)) continue;
    const { rollout } = current(name);
    const active =
      rollout !== undefined && !TERMINAL_PHASES.has(rollout.phase)
        ? `its rollout of ${rollout.canary.version} is aborted, `
        : "";
    changes.push({
      kind: "remove",
      service: name,
      summary: `${name} is no longer in the spec: ${active}the router stops serving it (its history stays)`,
    });
  }
  return changes;
}

/**
 * Changes for a service with a strategy. The spec is compared with the spec applied before it
 * (`old`), not with the running state: rollouts started by `aviary deploy` and promotions
 * make the running state differ from a spec that never mentioned them, and re-applying an
 * unchanged spec must change nothing. Without an old spec (Aviary just started), only a canary
 * the store has never rolled out counts as new.
 */
function strategyChanges(
  svc: Service,
  old: Service | undefined,
  stable: Version,
  last: Rollout | undefined,
  active: Rollout | undefined,
): SpecChange[] {
  const out: SpecChange[] = [];
  const canary = svc.canary;
  if (canary !== undefined && canary.version !== stable.version) {
    const isNew =
      old === undefined
        ? last === undefined || !sameVersion(last.canary, canary)
        : old.canary === undefined || !sameVersion(old.canary, canary);
    const running = active !== undefined && sameVersion(active.canary, canary);
    if (isNew && !running) {
      const superseding = active ? ` (supersedes the rollout of ${active.canary.version})` : "";
      out.push({
        kind: "deploy",
        service: svc.name,
        canary,
        summary: `roll out ${canary.version} over stable ${stable.version}${superseding}`,
      });
    }
  } else if (
    canary === undefined &&
    active &&
    old?.canary !== undefined &&
    sameVersion(old.canary, active.canary)
  ) {
    out.push({
      kind: "abort",
      service: svc.name,
      summary: `the spec no longer has canary ${active.canary.version}: its rollout is aborted`,
    });
  }
  if (
    old !== undefined &&
    !active &&
    old.stable.version !== svc.stable.version &&
    svc.stable.version !== stable.version
  ) {
    out.push({
      kind: "traffic",
      service: svc.name,
      traffic: { stable: svc.stable, canary: null, weight: 0, headerRoutes: [], mirror: null },
      summary: `stable set directly to ${svc.stable.version} (was ${stable.version}); no rollout`,
    });
  } else if (!active && svc.stable.version === stable.version && !sameVersion(svc.stable, stable)) {
    out.push({
      kind: "traffic",
      service: svc.name,
      traffic: { stable: svc.stable, canary: null, weight: 0, headerRoutes: [], mirror: null },
      summary: `stable ${stable.version} targets: ${stable.targets.join(" ")} → ${svc.stable.targets.join(" ")}`,
    });
  }
  return out;
}

/** Top-level service fields that differ, other than the versions and weight handled above. */
function changedConfig(a: Service, b: Service): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const skip = new Set(["name", "stable", "canary", "weight"]);
  return [...keys]
    .filter((k) => !skip.has(k) && !sameJson(a[k as keyof Service], b[k as keyof Service]))
    .sort();
}

function describeTraffic(from: TrafficState, to: TrafficState): string {
  const show = (t: TrafficState) =>
    t.canary
      ? `${t.stable.version} / ${t.canary.version} at ${t.weight}%`
      : `${t.stable.version} only`;
  return `traffic ${show(from)} → ${show(to)}`;
}
