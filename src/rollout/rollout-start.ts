/**
 * Starting a rollout as transitions: the active one superseded, then the new one at its first
 * step. A deploy, a retry and a spec naming a new canary all start one this way.
 *
 * @module
 */

import type { AnalysisTemplate, Service, Version } from "../spec/schema.js";
import type { StoreTx } from "../store/store.js";
import { newId } from "../util/id.js";
import { abortCommand, CommandError, enterStep, isTerminal, type Transition } from "./machine.js";
import { resolveStrategy } from "./steps.js";
import { sameVersion } from "./traffic.js";
import type { Actor, Rollout } from "./types.js";
import { unknownService } from "./writes.js";

/**
 * The transitions that start a rollout of `canary`: the active rollout superseded (if any),
 * then the new one at its first step. Reads through `tx`, so within a spec's transaction it
 * sees the service that transaction created; records the canary's version there too.
 */
export async function rolloutStart(
  tx: StoreTx,
  spec: Service,
  canary: Version,
  actor: Actor,
  now: number,
  templates: readonly AnalysisTemplate[],
  retryOf?: string,
): Promise<{ transitions: Transition[]; rollout: Rollout }> {
  if (spec.strategy === undefined) {
    throw new CommandError(
      "AVIARY_NO_STRATEGY",
      `${spec.name} has no strategy in its spec: add strategy.steps to roll out new versions`,
    );
  }
  const state = (await tx.getService(spec.name)) ?? unknownService(spec.name);
  if (canary.version === state.traffic.stable.version) {
    throw new CommandError(
      "AVIARY_SAME_VERSION",
      `${canary.version} is already the stable version of ${spec.name}`,
    );
  }
  const transitions: Transition[] = [];
  const current = state.rolloutId ? await tx.getRollout(state.rolloutId) : undefined;
  if (current && !isTerminal(current)) {
    if (sameVersion(current.canary, canary)) return { transitions, rollout: current };
    const superseded = abortCommand(current, now, actor, `superseded by ${canary.version}`);
    if (superseded) transitions.push(superseded);
  }
  const base: Rollout = {
    id: newId(now),
    service: spec.name,
    stable: state.traffic.stable,
    canary,
    phase: "Progressing",
    reason: "",
    stepIndex: 0,
    stepStartedAt: now,
    progressSince: now,
    pausedAt: null,
    traffic: { stable: state.traffic.stable, canary, weight: 0, headerRoutes: [], mirror: null },
    strategy: resolveStrategy(spec.strategy, templates),
    gates: { passed: [], waiting: null },
    createdAt: now,
    updatedAt: now,
    finishedAt: null,
    revision: 0,
  };
  const rollout = enterStep(base, 0, now);
  const what = retryOf ? `retry of rollout ${retryOf}` : "rollout";
  const reason = `${what} of ${canary.version} started by ${actor} (stable ${state.traffic.stable.version}); ${rollout.reason}`;
  await tx.recordVersion(spec.name, canary.version, canary.targets, now);
  const data = {
    stable: state.traffic.stable.version,
    canary: canary.version,
    ...(retryOf ? { retryOf } : {}),
  };
  transitions.push({
    rollout,
    event: { type: retryOf ? "rollout.retried" : "rollout.started", reason, data },
  });
  return { transitions, rollout };
}
