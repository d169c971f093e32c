/**
 * What a rollout is doing right now, read from the API's view of it: the current step, how long
 * a timed pause or the promotion hold has left on the server's clock, whether it waits for a
 * person, and which command moves it on. Pure; the watch view and `--wait` both use it.
 *
 * @module
 */

import { hasHook } from "../../rollout/gates.js";
import type { ResolvedStrategy } from "../../rollout/steps.js";
import type { Rollout } from "../../rollout/types.js";
import type { Step } from "../../spec/schema.js";
import type { AnalysisRunRecord, MeasurementRecord } from "../../store/store.js";
import { parseDuration } from "../../util/duration.js";
import type { ServiceView } from "../format.js";

export type AnalysisRun = AnalysisRunRecord & { measurements: MeasurementRecord[] };

/** The rollout's steps; empty when the server sent a strategy this CLI cannot read. */
export function stepsOf(r: Rollout): Step[] {
  const steps = (r.strategy as Partial<ResolvedStrategy> | null)?.steps;
  return Array.isArray(steps) ? steps : [];
}

/** A timed wait of the current step: a `pause: {duration}` step or the promotion hold. */
export interface TimedWait {
  kind: "pause" | "hold";
  durationMs: number;
  /** Left on the server's clock, never negative. */
  leftMs: number;
  /** True while an operator pause holds it: the time left does not run down. */
  frozen: boolean;
}

/** The timed wait the rollout is in at server time `now`, if any. */
export function timedWait(r: Rollout, now: number): TimedWait | undefined {
  if (r.phase === "Healthy" || r.phase === "Aborted") return undefined;
  const steps = stepsOf(r);
  const step = steps[r.stepIndex];
  let durationMs: number | undefined;
  let kind: TimedWait["kind"] = "pause";
  if (step !== undefined) {
    if (!("pause" in step) || step.pause.duration === undefined) return undefined;
    durationMs = parseDuration(step.pause.duration);
  } else {
    const hold = (r.strategy as Partial<ResolvedStrategy> | null)?.promotionHoldMs;
    if (typeof hold !== "number" || hold <= 0 || r.traffic.weight !== 100) return undefined;
    if (r.phase !== "Promoting") return undefined;
    kind = "hold";
    durationMs = hold;
  }
  if (durationMs === undefined) return undefined;
  const frozen = r.pausedAt !== null;
  const at = frozen ? (r.pausedAt as number) : now;
  const leftMs = Math.max(0, r.stepStartedAt + durationMs - at);
  return { kind, durationMs, leftMs, frozen };
}

/** Why the rollout waits for a person, or undefined when it does not. */
export type PersonWait = "manual-pause" | "promotion-gate" | "gates" | "inconclusive" | "operator";

/** The gates a rollout is held at, each with whether a hook of its own can open it. */
export function heldAtGates(r: Rollout): Array<{ name: string; hook: boolean }> | undefined {
  // Optional: a server from before gates sends rollouts without them.
  const waiting = (r as Partial<Rollout>).gates?.waiting;
  if (waiting === null || waiting === undefined) return undefined;
  const defs = (r.strategy as Partial<ResolvedStrategy> | null)?.gates ?? [];
  return waiting.gates.map((name) => {
    const gate = defs.find((g) => g.name === name);
    return { name, hook: gate !== undefined && hasHook(gate) };
  });
}

export function waitsFor(
  r: Rollout,
  runs: readonly AnalysisRun[] | null = null,
): PersonWait | undefined {
  if (r.phase === "Healthy" || r.phase === "Aborted") return undefined;
  if (r.pausedAt === null) {
    // A gate with a hook opens by itself; one without waits for `aviary gate open`.
    return heldAtGates(r)?.some((g) => !g.hook) ? "gates" : undefined;
  }
  const steps = stepsOf(r);
  const step = steps[r.stepIndex];
  if (step !== undefined && "pause" in step && step.pause.duration === undefined)
    return "manual-pause";
  const autoPromote = (r.strategy as Partial<ResolvedStrategy> | null)?.autoPromote;
  if (step === undefined && autoPromote === false && r.traffic.weight === 100)
    return "promotion-gate";
  const inconclusive =
    runs?.some((run) => run.rolloutId === r.id && run.phase === "Inconclusive") ??
    /inconclusive/.test(r.reason);
  return inconclusive ? "inconclusive" : "operator";
}

/** The commands that move the rollout on from where it is, or undefined when it just runs. */
export function nextAction(
  view: ServiceView,
  runs: readonly AnalysisRun[] | null = null,
): string | undefined {
  const name = view.name;
  const r = view.rollout;
  if (r === null) return `no rollout: aviary deploy ${name} --version V --target URL starts one`;
  if (r.phase === "Healthy") {
    return view.previousStable !== null
      ? `done: aviary undo ${name} puts ${view.previousStable.version} back`
      : undefined;
  }
  if (r.phase === "Aborted")
    return `aviary retry ${name} starts ${r.canary.version} again from step 1`;
  return personHint(name, r, runs);
}

/** What a person can run when the rollout waits for one; undefined when it does not wait. */
export function personHint(
  name: string,
  r: Rollout,
  runs: readonly AnalysisRun[] | null = null,
): string | undefined {
  switch (waitsFor(r, runs)) {
    case "manual-pause":
      return `waiting for a person: aviary promote ${name} goes on · aviary abort ${name} rolls back`;
    case "gates": {
      const open = (heldAtGates(r) ?? [])
        .filter((g) => !g.hook)
        .map((g) => `aviary gate open ${name} ${g.name}`);
      return `waiting at a gate: ${open.join(" · ")} · aviary abort ${name} rolls back`;
    }
    case "promotion-gate":
      return `waiting for a person: aviary promote ${name} makes ${r.canary.version} stable · aviary abort ${name} rolls back`;
    case "inconclusive":
      return `waiting for a person: aviary promote ${name} accepts · aviary resume ${name} measures again · aviary abort ${name} rolls back`;
    case "operator":
      return `paused: aviary resume ${name} goes on · aviary abort ${name} rolls back`;
    default:
      return undefined;
  }
}
