/**
 * What a committed decision writes, inside the caller's transaction: a transition is the
 * rollout, the service's traffic and its history event, together or not at all.
 *
 * @module
 */

import { AviaryError } from "../errors.js";
import type { StoreTx } from "../store/store.js";
import type { Transition } from "./machine.js";
import type { Actor, Rollout, RolloutEvent, ServiceState } from "./types.js";

/** A transition's writes: the rollout, the service's traffic, the history event. */
export async function writeTransition(
  tx: StoreTx,
  t: Transition,
  actor: Actor,
): Promise<RolloutEvent> {
  const r = t.rollout;
  await tx.putRollout(r);
  const state = (await tx.getService(r.service)) ?? unknownService(r.service);
  const promotedNow = r.phase === "Healthy" && t.event.type === "promoted";
  // Read and written in this transaction: the revision moves on from what it read.
  await tx.putService({
    ...state,
    traffic: r.traffic,
    rolloutId: r.id,
    previousStable: promotedNow ? r.stable : state.previousStable,
    updatedAt: r.updatedAt,
    revision: state.revision + 1,
  });
  return tx.appendEvent({
    rolloutId: r.id,
    service: r.service,
    at: r.updatedAt,
    type: t.event.type,
    actor: t.actor ?? actor,
    reason: t.event.reason,
    phase: r.phase,
    stepIndex: r.stepIndex,
    weight: r.traffic.canary === null ? 0 : r.traffic.weight,
    data: t.event.data ?? {},
  });
}

/**
 * A service's new state and the history event that says why. `state.revision` is the one to
 * write (the revision it was read at + 1, see {@link nextRevision}): the store refuses it over
 * a newer write.
 */
export async function writeService(
  tx: StoreTx,
  state: ServiceState,
  e: ServiceEventInput,
): Promise<RolloutEvent> {
  await tx.putService(state);
  return tx.appendEvent({
    rolloutId: state.rolloutId,
    service: state.name,
    at: state.updatedAt,
    type: e.type,
    actor: e.actor,
    reason: e.reason,
    phase: null,
    stepIndex: null,
    weight: state.traffic.canary === null ? 0 : state.traffic.weight,
    data: e.data,
  });
}

export interface ServiceEventInput {
  type: string;
  actor: Actor;
  reason: string;
  data: Record<string, unknown>;
}

/** The service's current (or last) rollout as `tx` sees it; none for an unknown service. */
export async function currentRollout(tx: StoreTx, service: string): Promise<Rollout | undefined> {
  const id = (await tx.getService(service))?.rolloutId;
  return id ? tx.getRollout(id) : undefined;
}

/** The revision a write over `read` carries (1 for a service not yet stored). */
export function nextRevision(read: ServiceState | undefined): number {
  return (read?.revision ?? 0) + 1;
}

/** A service the store does not hold (the controller's own reads say more: removed, or never there). */
export function unknownService(name: string): never {
  throw new AviaryError("AVIARY_UNKNOWN_SERVICE", `no service named ${name}`);
}
