/**
 * A spec's changes written in one transaction: services created and removed, rollouts started
 * and aborted, static traffic set. Builds on what the transaction itself wrote, so one change's
 * precondition failing rolls back all of them.
 *
 * @module
 */

import type { Flag } from "../flags/schema.js";
import type { AnalysisTemplate, Service } from "../spec/schema.js";
import type { Store, StoreTx } from "../store/store.js";
import { sameJson } from "../util/same-json.js";
import { abortCommand, isTerminal, type Transition } from "./machine.js";
import { rolloutStart } from "./rollout-start.js";
import type { SpecChange } from "./spec-changes.js";
import { stableOnly, trafficFromSpec } from "./traffic.js";
import type { Actor, Rollout, RolloutEvent, ServiceState } from "./types.js";
import {
  currentRollout,
  nextRevision,
  type ServiceEventInput,
  unknownService,
  writeService,
  writeTransition,
} from "./writes.js";

/** Where a spec came from (a file as given, `api`), kept with it in the store. */
export interface SpecRecord {
  services: readonly Service[];
  /** Every rollout subject the changes may name: the services and the flags' (`src/flags/subjects.ts`); default: the services. */
  subjects?: readonly Service[];
  templates: readonly AnalysisTemplate[];
  /** Absent or empty: a spec without flags, stored as it was before flags existed. */
  flags?: readonly Flag[];
  source: string;
}

/** An event the spec's transaction wrote, and the rollout it moved (if any), for the effects after the commit. */
export interface Written {
  event: RolloutEvent;
  rollout: Rollout | undefined;
}

/** A stored command whose transaction this is: it is marked committed with `data` (its answer). */
export interface CommandMark {
  id: string;
  data: Record<string, unknown>;
}

/**
 * Writes every change of a spec in one transaction, with the spec itself (so another instance,
 * or the next leader, reads the spec this one runs). Builds on what the transaction itself
 * has written (a service created, then its rollout started), so one change's precondition
 * failing rolls back all of them.
 */
export async function commitSpec(
  store: Store,
  changes: readonly SpecChange[],
  spec: SpecRecord,
  actor: Actor,
  now: number,
  beforeCommit: (() => void) | undefined,
  command?: CommandMark,
): Promise<{ written: Written[]; started: string[] }> {
  const specs = new Map((spec.subjects ?? spec.services).map((s) => [s.name, s]));
  const templates = spec.templates;
  const written: Written[] = [];
  const started = new Set<string>();
  await store.transaction(async (tx) => {
    // The crash tests count events: each is a commit point, even when several share one
    // transaction (a kill before any of them loses them all, which is what a crash does).
    const transition = async (t: Transition) => {
      beforeCommit?.();
      written.push({ event: await writeTransition(tx, t, actor), rollout: t.rollout });
    };
    const serviceEvent = async (state: ServiceState, e: ServiceEventInput) => {
      beforeCommit?.();
      written.push({ event: await writeService(tx, state, e), rollout: undefined });
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
            revision: nextRevision(await tx.getService(spec.name)),
          };
          await tx.recordVersion(spec.name, spec.stable.version, spec.stable.targets, now);
          await serviceEvent(state, {
            type: "service.created",
            actor,
            reason: change.summary,
            data: { stable: spec.stable.version },
          });
          if (spec.strategy && spec.canary) {
            const start = await rolloutStart(tx, spec, spec.canary, actor, now, templates);
            for (const t of start.transitions) await transition(t);
            started.add(spec.name);
          }
          break;
        }
        case "deploy": {
          const start = await rolloutStart(
            tx,
            specOf(change.service),
            change.canary,
            actor,
            now,
            templates,
          );
          for (const t of start.transitions) await transition(t);
          started.add(change.service);
          break;
        }
        case "abort": {
          const r = await currentRollout(tx, change.service);
          const t = r && abortCommand(r, now, actor, change.summary);
          if (t) await transition(t);
          break;
        }
        case "traffic": {
          const state = (await tx.getService(change.service)) ?? unknownService(change.service);
          const traffic = change.traffic;
          await tx.recordVersion(state.name, traffic.stable.version, traffic.stable.targets, now);
          await serviceEvent(
            { ...state, traffic, updatedAt: now, revision: nextRevision(state) },
            { type: "traffic.set", actor, reason: change.summary, data: {} },
          );
          break;
        }
        case "config":
          // The router takes the new configuration with the new spec.
          break;
        case "remove": {
          const r = await currentRollout(tx, change.service);
          if (r !== undefined && !isTerminal(r)) {
            const why = `${change.service} was removed from the spec`;
            const t = abortCommand(r, now, actor, why);
            if (t) await transition(t);
          }
          const state = await tx.getService(change.service);
          if (state === undefined) break;
          // Written once more (its last state, with the event) before it is forgotten.
          await serviceEvent(
            { ...state, revision: nextRevision(state) },
            {
              type: "service.removed",
              actor,
              reason: change.summary,
              data: { stable: state.traffic.stable.version },
            },
          );
          await tx.deleteService(change.service);
          break;
        }
      }
    }
    await putSpec(tx, spec, now);
    // Even a spec that changes nothing but its configuration commits (the spec itself), so the
    // mark is always written: a new leader answers the same changes instead of re-planning.
    if (command !== undefined)
      await tx.recordCommandCommit(command.id, { at: now, data: command.data });
  });
  return { written, started: [...started] };
}

/**
 * The applied spec, one revision on from the stored one, in the spec's own transaction. The
 * same spec again (a new leader's start, a reload of an unchanged file) keeps the stored record,
 * its revision and source included: routers take a new revision for a new state.
 */
async function putSpec(tx: StoreTx, spec: SpecRecord, now: number): Promise<void> {
  const stored = await tx.getAppliedSpec();
  // As JSON: what a spec file or an API apply parses to, so any instance can parse it back.
  const document = JSON.parse(JSON.stringify(appliedDocument(spec))) as unknown;
  if (stored !== undefined && sameJson(stored.spec, document)) return;
  await tx.putAppliedSpec({
    revision: (stored?.revision ?? 0) + 1,
    spec: document,
    source: spec.source,
    appliedAt: now,
  });
}

/**
 * What the store keeps of a spec. `flags` only when there are some: a spec without flags is the
 * document it was before flags existed, so an upgraded instance does not make a new revision.
 */
export function appliedDocument(spec: {
  services: readonly Service[];
  templates: readonly AnalysisTemplate[];
  flags?: readonly Flag[] | undefined;
}): Record<string, unknown> {
  return {
    services: spec.services,
    analysisTemplates: spec.templates,
    ...(spec.flags !== undefined && spec.flags.length > 0 ? { flags: spec.flags } : {}),
  };
}
