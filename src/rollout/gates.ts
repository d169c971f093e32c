/**
 * Where a rollout's gates hold it, as pure functions the state machine and the controller
 * share. A gate is passed once per point (`<name>@<point>`), so a confirm-traffic-increase
 * gate asks again before every increase, and a crash never re-asks a gate already passed.
 *
 * @module
 */

import type { Gate, GateType } from "../spec/schema.js";
import type { ResolvedStrategy } from "./steps.js";
import type { GatePoint, Rollout } from "./types.js";

/** The gate types that hold a rollout at each kind of point. */
const HOLDING: Record<"start" | "step" | "promotion", readonly GateType[]> = {
  start: ["confirm-rollout", "pre-rollout"],
  step: ["confirm-traffic-increase"],
  promotion: ["confirm-promotion"],
};

export function gatesOf(r: Rollout): readonly Gate[] {
  return (r.strategy as ResolvedStrategy).gates ?? [];
}

function kindOf(point: GatePoint): keyof typeof HOLDING {
  return point === "start" || point === "promotion" ? point : "step";
}

export function gateKey(gate: string, point: GatePoint): string {
  return `${gate}@${point}`;
}

/** Gates that hold the rollout at `point` and have not been passed there yet, in spec order. */
export function pendingGates(r: Rollout, point: GatePoint): Gate[] {
  const types = HOLDING[kindOf(point)];
  const passed = new Set(r.gates.passed);
  return gatesOf(r).filter((g) => types.includes(g.type) && !passed.has(gateKey(g.name, point)));
}

/** Gates asked while the rollout runs, whose 2xx rolls it back. */
export function rollbackGates(r: Rollout): Gate[] {
  return gatesOf(r).filter((g) => g.type === "rollback");
}

/** Gates told once the rollout has ended. */
export function postRolloutGates(r: Rollout): Gate[] {
  return gatesOf(r).filter((g) => g.type === "post-rollout");
}

/** True when the gate has a hook to ask (without one, it opens only through the API). */
export function hasHook(g: Gate): boolean {
  return g.url !== undefined || g.urlFrom !== undefined;
}

/** How a point reads in a reason: "before any traffic moves", "before the weight goes to 25%". */
export function describePoint(r: Rollout, point: GatePoint): string {
  if (point === "start") return "before any traffic moves";
  if (point === "promotion") return "before promotion";
  const step = (r.strategy as ResolvedStrategy).steps[Number(point.slice(4))];
  return step !== undefined && "setWeight" in step
    ? `before the weight goes to ${step.setWeight}%`
    : `before step ${Number(point.slice(4)) + 1}`;
}
