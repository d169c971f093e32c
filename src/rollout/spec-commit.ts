/**
 * A spec's changes written in one transaction: services created and removed, rollouts started
 * and aborted, static traffic set. Builds on what the transaction itself wrote, so one change's
 * precondition failing rolls back all of them.
 *
 * @module
 */

import type { AnalysisTemplate, Service } from "../spec/schema.js";
import type { Store } from "../store/store.js";
import { abortCommand, isTerminal, type Transition } from "./machine.js";
import { rolloutStart } from "./rollout-start.js";
import type { SpecChange } from "./spec-changes.js";
import { stableOnly, trafficFromSpec } from "./traffic.js";
import type { Actor, Rollout, RolloutEvent, ServiceState } from "./types.js";
import {
  currentRollout,
  type ServiceEventInput,
  unknownService,
  writeService,
  writeTransition,
} from "./writes.js";

/** An event the spec's transaction wrote, and the rollout it moved (if any), for the effects after the commit. */
export interface Written {
  event: RolloutEvent;
  rollout: Rollout | undefined;
}

/**
 * Writes every change of a spec in one transaction. Builds on what the transaction itself
 * has written (a service created, then its rollout started), so one change's precondition
 * failing rolls back all of them.
 */
export function commitSpec(
  store: Store,
  changes: readonly SpecChange[],
  specs: ReadonlyMap<string, Service>,
  templates: readonly AnalysisTemplate[],
  actor: Actor,
  now: number,
  beforeCommit: (() => void) | undefined,
): { written: Written[]; started: string[] } {
  const written: Written[] = [];
  const started = new Set<string>();
  store.transaction((tx) => {
    // The crash tests count events: each is a commit point, even when several share one
    // transaction (a kill before any of them loses them all, which is what a crash does).
    const transition = (t: Transition) => {
      beforeCommit?.();
      written.push({ event: writeTransition(tx, t, actor), rollout: t.rollout });
    };
    const serviceEvent = (state: ServiceState, e: ServiceEventInput) => {
      beforeCommit?.();
      written.push({ event: writeService(tx, state, e), rollout: undefined });
    };
    const specOf = (name: string) => specs.get(name) ?? unknownService(name);
    for (const change of changes) {
      switch (change.kind) {
        case "create": {
          const spec = specOf(change.service);
          const state: ServiceState = {
            name: spec.name,
            traffic: spec.strategy ? stableOnly(trafficFromSpec(spec)) : trafficFromSpec(spec),
            rolloutId: null,
            previousStable: null,
            updatedAt: now,
          };
          tx.recordVersion(spec.name, spec.stable.version, spec.stable.targets, now);
          serviceEvent(state, {
            type: "service.created",
            actor,
            reason: change.summary,
            data: { stable: spec.stable.version },
          });
          if (spec.strategy && spec.canary) {
            const start = rolloutStart(tx, spec, spec.canary, actor, now, templates);
            start.transitions.forEach(transition);
            started.add(spec.name);
          }
          break;
        }
        case "deploy": {
          const start = rolloutStart(
            tx,
            specOf(change.service),
            change.canary,
            actor,
            now,
            templates,
          );
          start.transitions.forEach(transition);
          started.add(change.service);
          break;
        }
        case "abort": {
          const r = currentRollout(tx, change.service);
          const t = r && abortCommand(r, now, actor, change.summary);
          if (t) transition(t);
          break;
        }
        case "traffic": {
          const state = tx.getService(change.service) ?? unknownService(change.service);
          const traffic = change.traffic;
          tx.recordVersion(state.name, traffic.stable.version, traffic.stable.targets, now);
          serviceEvent(
            { ...state, traffic, updatedAt: now },
            { type: "traffic.set", actor, reason: change.summary, data: {} },
          );
          break;
        }
        case "config":
          // The router takes the new configuration with the new spec.
          break;
        case "remove": {
          const r = currentRollout(tx, change.service);
          if (r !== undefined && !isTerminal(r)) {
            const why = `${change.service} was removed from the spec`;
            const t = abortCommand(r, now, actor, why);
            if (t) transition(t);
          }
          const state = tx.getService(change.service);
          if (state === undefined) break;
          serviceEvent(state, {
            type: "service.removed",
            actor,
            reason: change.summary,
            data: { stable: state.traffic.stable.version },
          });
          tx.deleteService(change.service);
          break;
        }
      }
    }
  });
  return { written, started: [...started] };
}
