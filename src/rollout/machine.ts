/**
 * The rollout state machine as pure functions: given a rollout and the facts of the moment,
 * the next transition (a new rollout state plus the history event that explains it) or how
 * long to wait. No I/O here; the controller persists each transition before applying it.
 *
 * A rollout walks its steps by index; index `steps.length` is the promotion stage (full
 * weight, optional hold, optional promotion gate). `pausedAt` set means it waits for a
 * person: an operator pause, a manual `pause: {}` step, or the promotion gate.
 *
 * @module
 */

import type { AnalysisFacts } from "../analysis/manager.js";
import { AviaryError } from "../errors.js";
import type { Gate, Step } from "../spec/schema.js";
import { formatDuration, parseDuration } from "../util/duration.js";
import { sameJson } from "../util/same-json.js";
import { describePoint, gateKey, gatesOf, hasHook, pendingGates } from "./gates.js";
import { describeStep, type ResolvedStrategy } from "./steps.js";
import { stableOnly } from "./traffic.js";
import type {
  Actor,
  GatePoint,
  ManagedRoute,
  Rollout,
  RolloutPhase,
  TrafficState,
} from "./types.js";
import { TERMINAL_PHASES } from "./types.js";

/** What the controller knows about the data plane right now. */
export interface Facts {
  now: number;
  /** Whether the canary has a target in rotation (undefined: the router cannot tell). */
  canaryAvailable: boolean | undefined;
  /** Whether the router serves the rollout's traffic state (undefined: cannot tell). */
  inSync: boolean | undefined;
  /** The rollout's analyses: the current step's, and the background one. */
  analysis?: AnalysisFacts;
}

export interface Transition {
  rollout: Rollout;
  event: { type: string; reason: string; data?: Record<string, unknown> };
  /** Who caused it, when not the caller (an analysis verdict). */
  actor?: Actor;
}

export type Next =
  | { kind: "transition"; transition: Transition }
  | { kind: "wait"; wakeAt: number | null };

/** An operator command that cannot apply to the rollout as it stands. */
export class CommandError extends AviaryError {}

export function strategyOf(r: Rollout): ResolvedStrategy {
  return r.strategy as ResolvedStrategy;
}

export function isTerminal(r: Rollout): boolean {
  return TERMINAL_PHASES.has(r.phase);
}

/** The step the rollout is on, or undefined in the promotion stage. */
function currentStep(r: Rollout): Step | undefined {
  return strategyOf(r).steps[r.stepIndex];
}

/** True when the rollout waits for a person because of its strategy, not an operator pause. */
function waitsAtGate(r: Rollout): boolean {
  const step = currentStep(r);
  if (step !== undefined) return "pause" in step && step.pause.duration === undefined;
  return !strategyOf(r).autoPromote && r.traffic.weight === 100;
}

// ---- building blocks ----

function next(r: Rollout, now: number, changes: Partial<Rollout>): Rollout {
  return { ...r, ...changes, revision: r.revision + 1, updatedAt: now };
}

function transition(
  rollout: Rollout,
  type: string,
  reason: string,
  data?: Record<string, unknown>,
  actor?: Actor,
): Next {
  return {
    kind: "transition",
    transition: {
      rollout,
      event: { type, reason, ...(data ? { data } : {}) },
      ...(actor ? { actor } : {}),
    },
  };
}

/** A verdict that stops the canary (Failed/Error) or hands the decision to a person (Inconclusive). */
function analysisVerdict(
  r: Rollout,
  now: number,
  which: string,
  run: { phase: string; message: string },
): Next | undefined {
  if (run.phase === "Failed" || run.phase === "Error") {
    const reason = `${which} ${run.phase === "Failed" ? "failed" : "errored"}: ${run.message}`;
    return transition(aborted(r, now, reason), "aborted", reason, { analysis: which }, "analysis");
  }
  if (run.phase === "Inconclusive" && r.pausedAt === null) {
    const reason = `${which} inconclusive: ${run.message} — promote to accept, resume to measure again, abort to roll back`;
    return transition(
      next(r, now, { phase: "Paused", pausedAt: now, reason }),
      "paused",
      reason,
      { analysis: which },
      "analysis",
    );
  }
  return undefined;
}

/** The rollout entering step `index` (or the promotion stage) at `now`. */
export function enterStep(r: Rollout, index: number, now: number): Rollout {
  const s = strategyOf(r);
  const step = s.steps[index];
  let phase: RolloutPhase = "Progressing";
  let pausedAt: number | null = null;
  let reason = `step ${index + 1}/${s.steps.length}: ${describeStep(step)}`;
  if (step === undefined) {
    phase = "Promoting";
    reason = "all steps done: promoting";
  } else if ("pause" in step) {
    phase = "Paused";
    if (step.pause.duration === undefined) {
      pausedAt = now;
      reason = `step ${index + 1}/${s.steps.length}: waiting at a manual pause until promoted`;
    } else reason = `step ${index + 1}/${s.steps.length}: pausing for ${step.pause.duration}`;
  } else if ("analysis" in step) phase = "Analyzing";
  return next(r, now, {
    stepIndex: index,
    stepStartedAt: now,
    progressSince: now,
    phase,
    pausedAt,
    reason,
  });
}

function advance(r: Rollout, now: number): Next {
  const entered = enterStep(r, r.stepIndex + 1, now);
  return transition(entered, "step.started", entered.reason, { stepIndex: entered.stepIndex });
}

/** The rollout rolled back: canary cut off, history kept. */
export function aborted(r: Rollout, now: number, reason: string): Rollout {
  return next(r, now, {
    phase: "Aborted",
    reason,
    pausedAt: null,
    finishedAt: now,
    gates: { ...r.gates, waiting: null },
    traffic: stableOnly({ ...r.traffic, stable: r.stable }),
  });
}

/** The canary made stable: it takes all traffic as the new stable version. */
export function promoted(r: Rollout, now: number, reason: string): Rollout {
  const traffic: TrafficState = {
    stable: r.canary,
    canary: null,
    weight: 0,
    headerRoutes: [],
    mirror: null,
  };
  return next(r, now, {
    phase: "Healthy",
    reason,
    pausedAt: null,
    finishedAt: now,
    gates: { ...r.gates, waiting: null },
    stepIndex: strategyOf(r).steps.length,
    traffic,
  });
}

function withTraffic(
  r: Rollout,
  now: number,
  traffic: Partial<TrafficState>,
  reason: string,
): Rollout {
  return next(r, now, { traffic: { ...r.traffic, ...traffic }, reason });
}

/** Waits for the data plane until the progress deadline, then aborts. */
function awaitProgress(r: Rollout, now: number, waitingFor: string): Next {
  const s = strategyOf(r);
  const deadline = r.progressSince + s.progressDeadlineMs;
  if (now >= deadline) {
    const reason = `progress deadline exceeded: ${describeStep(currentStep(r))} did not complete within ${formatDuration(s.progressDeadlineMs)} (${waitingFor})`;
    return transition(aborted(r, now, reason), "aborted", reason);
  }
  return { kind: "wait", wakeAt: deadline };
}

function sameRoutes(a: readonly ManagedRoute[], b: readonly ManagedRoute[]): boolean {
  return sameJson(a, b);
}

/** The rollout held at `point` until every gate in `pending` opens. */
function waitAtGates(r: Rollout, now: number, point: GatePoint, pending: readonly Gate[]): Next {
  const names = pending.map((g) => g.name);
  const how = pending
    .map((g) =>
      hasHook(g)
        ? `${g.name} (${g.type}) asks its hook every ${g.interval}`
        : `${g.name} (${g.type}) opens with: aviary gate open ${r.service} ${g.name}`,
    )
    .join("; ");
  const reason = `waiting at ${names.length > 1 ? "gates" : "gate"} ${names.join(", ")} ${describePoint(r, point)}: ${how}`;
  return transition(
    next(r, now, {
      phase: "Waiting",
      reason,
      gates: { ...r.gates, waiting: { point, gates: names, since: now } },
    }),
    "gate.waiting",
    reason,
    { point, gates: names },
  );
}

/** Every gate at the point has opened: the rollout goes on from where it was held. */
function leaveGates(r: Rollout, now: number, reason: string): Rollout {
  const point = r.gates.waiting?.point;
  const released = { ...r, gates: { ...r.gates, waiting: null } };
  // Held before anything happened: the current step starts now, so a timed pause or an
  // analysis does not count the time spent waiting.
  if (point === "start") return { ...enterStep(released, r.stepIndex, now), reason };
  return next(released, now, {
    phase: point === "promotion" ? "Promoting" : "Progressing",
    progressSince: now,
    reason,
  });
}

// ---- the machine ----

/** The next thing to do for an active rollout. */
export function reconcile(r: Rollout, f: Facts): Next {
  if (isTerminal(r)) return { kind: "wait", wakeAt: null };
  const s = strategyOf(r);
  const now = f.now;
  const exposed =
    r.traffic.canary !== null &&
    (r.traffic.weight > 0 || r.traffic.headerRoutes.length > 0 || r.traffic.mirror !== null);
  if (s.abortOnTargetsDown && exposed && f.canaryAvailable === false) {
    const reason = "every canary target is down (ejected or failing health checks)";
    return transition(aborted(r, now, reason), "aborted", reason);
  }
  const background = f.analysis?.background;
  if (background !== undefined) {
    const verdict = analysisVerdict(r, now, "background analysis", background);
    if (verdict !== undefined) return verdict;
  }
  if (r.pausedAt !== null) return { kind: "wait", wakeAt: null };
  const waiting = r.gates.waiting;
  if (waiting !== null) {
    if (pendingGates(r, waiting.point).length > 0) return { kind: "wait", wakeAt: null };
    const reason = `every gate ${describePoint(r, waiting.point)} is open; going on`;
    return transition(leaveGates(r, now, reason), "gate.passed", reason, { point: waiting.point });
  }
  const atStart = pendingGates(r, "start");
  if (atStart.length > 0) return waitAtGates(r, now, "start", atStart);

  const step = s.steps[r.stepIndex];
  if (step === undefined) return reconcilePromotion(r, f);
  if ("setWeight" in step) {
    const w = step.setWeight;
    if (w > r.traffic.weight) {
      const point: GatePoint = `step${r.stepIndex}`;
      const pending = pendingGates(r, point);
      if (pending.length > 0) return waitAtGates(r, now, point, pending);
    }
    // Never widen on a weight the data plane has not confirmed (taken, read back, split as told).
    if (w > r.traffic.weight && f.inSync === false)
      return awaitProgress(r, now, "the data plane does not serve the current weight yet");
    if (r.traffic.weight !== w) {
      return transition(
        withTraffic(r, now, { weight: w }, `canary weight ${r.traffic.weight}% → ${w}%`),
        "weight.set",
        `canary weight ${r.traffic.weight}% → ${w}%`,
        {
          from: r.traffic.weight,
          to: w,
        },
      );
    }
    if (f.inSync === false) return awaitProgress(r, now, "the router has not confirmed the weight");
    if (w > 0 && f.canaryAvailable === false)
      return awaitProgress(r, now, "no canary target is available");
    return advance(r, now);
  }
  if ("pause" in step) {
    const d = step.pause.duration;
    // A manual pause sets pausedAt on entry; reaching here means it was let go.
    if (d === undefined) return advance(r, now);
    const end = r.stepStartedAt + (parseDuration(d) as number);
    return now >= end ? advance(r, now) : { kind: "wait", wakeAt: end };
  }
  if ("analysis" in step) {
    const run = f.analysis?.step;
    if (run === undefined || run.phase === "Running") return { kind: "wait", wakeAt: null };
    if (run.phase === "Successful") {
      const entered = enterStep(r, r.stepIndex + 1, now);
      const reason = `analysis passed (${run.message}); ${entered.reason}`;
      return transition(
        { ...entered, reason },
        "step.started",
        reason,
        { stepIndex: entered.stepIndex },
        "analysis",
      );
    }
    return analysisVerdict(r, now, "analysis", run) ?? { kind: "wait", wakeAt: null };
  }
  if ("setHeaderRoute" in step) {
    const { name, match } = step.setHeaderRoute;
    const others = r.traffic.headerRoutes.filter((route) => route.name !== name);
    const routes = match === undefined ? others : [...others, { name, match }];
    if (!sameRoutes(routes, r.traffic.headerRoutes)) {
      const reason =
        match === undefined
          ? `header route ${name} removed`
          : `header route ${name} sends matching requests to the canary`;
      return transition(
        withTraffic(r, now, { headerRoutes: routes }, reason),
        match === undefined ? "route.removed" : "route.set",
        reason,
        { name },
      );
    }
    return advance(r, now);
  }
  const mirror = step.setMirror.percent > 0 ? step.setMirror : null;
  if (!sameJson(mirror, r.traffic.mirror)) {
    const reason = mirror
      ? `mirroring ${mirror.percent}% of stable traffic to the canary`
      : "mirroring stopped";
    return transition(
      withTraffic(r, now, { mirror }, reason),
      mirror ? "mirror.set" : "mirror.removed",
      reason,
    );
  }
  return advance(r, now);
}

function reconcilePromotion(r: Rollout, f: Facts): Next {
  const s = strategyOf(r);
  const now = f.now;
  const pending = pendingGates(r, "promotion");
  if (pending.length > 0) return waitAtGates(r, now, "promotion", pending);
  if (r.traffic.weight !== 100 && f.inSync === false)
    return awaitProgress(r, now, "the data plane does not serve the current weight yet");
  if (r.traffic.weight !== 100) {
    const reason = `promoting: canary weight ${r.traffic.weight}% → 100%`;
    return transition(
      next(r, now, {
        traffic: { ...r.traffic, weight: 100 },
        phase: "Promoting",
        reason,
        stepStartedAt: now,
        progressSince: now,
      }),
      "weight.set",
      reason,
      { from: r.traffic.weight, to: 100 },
    );
  }
  if (f.inSync === false) return awaitProgress(r, now, "the router has not confirmed full weight");
  const holdEnd = r.stepStartedAt + s.promotionHoldMs;
  if (now < holdEnd) return { kind: "wait", wakeAt: holdEnd };
  if (!s.autoPromote) {
    const reason = "waiting for promotion (promotion.auto is false): run aviary promote";
    return transition(next(r, now, { phase: "Paused", pausedAt: now, reason }), "paused", reason, {
      gate: "promotion",
    });
  }
  const reason = `promoted ${r.canary.version}: all steps passed`;
  return transition(promoted(r, now, reason), "promoted", reason, {
    from: r.stable.version,
    to: r.canary.version,
  });
}

// ---- operator commands ----

function requireActive(r: Rollout, verb: string): void {
  if (isTerminal(r)) {
    const hint =
      r.phase === "Healthy"
        ? "; use undo to go back to the previous version"
        : "; use retry to start it again";
    throw new CommandError(
      "AVIARY_ROLLOUT_FINISHED",
      `cannot ${verb}: the rollout of ${r.canary.version} is ${r.phase}${hint}`,
    );
  }
}

/** `promote`: finish the current step (a pause, a wait, the promotion gate); `full`: promote now. */
export function promoteCommand(r: Rollout, now: number, full: boolean, who: string): Transition {
  requireActive(r, "promote");
  const waiting = r.gates.waiting;
  if (!full && waiting !== null) {
    throw new CommandError(
      "AVIARY_AT_GATE",
      `the rollout of ${r.canary.version} waits at gate ${waiting.gates.join(", ")}: open it (aviary gate open ${r.service} ${waiting.gates[0]}) or promote --full`,
    );
  }
  if (full || r.stepIndex >= strategyOf(r).steps.length) {
    const reason = `promoted ${r.canary.version} by ${who}${full ? " (full promotion, remaining steps skipped)" : ""}`;
    return {
      rollout: promoted(r, now, reason),
      event: {
        type: "promoted",
        reason,
        data: { from: r.stable.version, to: r.canary.version, full },
      },
    };
  }
  const entered = enterStep({ ...r, pausedAt: null }, r.stepIndex + 1, now);
  const reason = `${who} promoted past step ${r.stepIndex + 1} (${describeStep(currentStep(r))}); ${entered.reason}`;
  return {
    rollout: { ...entered, reason },
    event: {
      type: "step.started",
      reason,
      data: { stepIndex: entered.stepIndex, skipped: r.stepIndex },
    },
  };
}

/** `pause`: hold the rollout where it is; idempotent. */
export function pauseCommand(r: Rollout, now: number, who: string): Transition | null {
  requireActive(r, "pause");
  if (r.pausedAt !== null) return null;
  const reason = `paused by ${who}`;
  return {
    rollout: next(r, now, { phase: "Paused", pausedAt: now, reason }),
    event: { type: "paused", reason },
  };
}

/** `resume`: undo an operator pause; the time spent paused does not count against any step. */
export function resumeCommand(r: Rollout, now: number, who: string): Transition {
  requireActive(r, "resume");
  if (r.pausedAt === null)
    throw new CommandError("AVIARY_NOT_PAUSED", `the rollout of ${r.canary.version} is not paused`);
  if (waitsAtGate(r)) {
    throw new CommandError(
      "AVIARY_AT_GATE",
      `the rollout of ${r.canary.version} waits at ${currentStep(r) ? "a manual pause step" : "the promotion gate"}: use promote to go on`,
    );
  }
  const pausedFor = now - r.pausedAt;
  // A timed pause keeps the time it had left; the progress deadline starts afresh (a person
  // looked at it), which also marks when analyses should measure again.
  const shifted = { ...r, pausedAt: null, stepStartedAt: r.stepStartedAt + pausedFor };
  const entered = enterStep(shifted, r.stepIndex, now);
  const rollout: Rollout = {
    ...entered,
    stepStartedAt: shifted.stepStartedAt,
    progressSince: now,
    // Paused while held at a gate: it is held there still.
    ...(r.gates.waiting !== null ? { phase: "Waiting" as const } : {}),
  };
  const reason = `resumed by ${who} after ${formatDuration(pausedFor)}; ${r.gates.waiting !== null ? `still waiting at gate ${r.gates.waiting.gates.join(", ")}` : entered.reason}`;
  return { rollout: { ...rollout, reason }, event: { type: "resumed", reason } };
}

/** `abort`: canary to 0 % at once; idempotent on an aborted rollout. */
export function abortCommand(
  r: Rollout,
  now: number,
  who: string,
  why?: string,
): Transition | null {
  if (r.phase === "Aborted") return null;
  requireActive(r, "abort");
  const reason = `aborted by ${who}${why ? `: ${why}` : ""}`;
  return { rollout: aborted(r, now, reason), event: { type: "aborted", reason } };
}

/** `retry` starts an aborted rollout's canary again, from step 0, as a new attempt. */
export function checkRetry(r: Rollout): void {
  if (r.phase !== "Aborted") {
    throw new CommandError(
      "AVIARY_NOT_ABORTED",
      `only an aborted rollout can be retried; this one is ${r.phase}`,
    );
  }
}

/**
 * Opens a gate the rollout waits at (an operator through the API, or the gate's hook answering
 * 2xx). Opening a rollback gate rolls the rollout back.
 */
export function openGateCommand(r: Rollout, now: number, name: string, who: string): Transition {
  requireActive(r, "open a gate");
  const gates = gatesOf(r);
  const gate = gates.find((g) => g.name === name);
  if (gate === undefined) {
    const known =
      gates.length > 0
        ? `; its gates: ${gates.map((g) => g.name).join(", ")}`
        : "; its strategy has no gates";
    throw new CommandError(
      "AVIARY_UNKNOWN_GATE",
      `the rollout of ${r.canary.version} has no gate named ${name}${known}`,
    );
  }
  if (gate.type === "rollback") {
    const reason = `rollback gate ${name} opened by ${who}`;
    return {
      rollout: aborted(r, now, reason),
      event: { type: "aborted", reason, data: { gate: name } },
    };
  }
  const waiting = r.gates.waiting;
  if (waiting === null || !waiting.gates.includes(name)) {
    const where = waiting !== null ? `it waits at ${waiting.gates.join(", ")}` : `it is ${r.phase}`;
    throw new CommandError(
      "AVIARY_GATE_NOT_WAITING",
      `the rollout of ${r.canary.version} is not waiting at gate ${name} (${where})`,
    );
  }
  const passed = [...r.gates.passed, gateKey(name, waiting.point)];
  const opened: Rollout = { ...r, gates: { passed, waiting } };
  const remaining = pendingGates(opened, waiting.point).map((g) => g.name);
  const event = { type: "gate.opened", data: { gate: name, point: waiting.point } };
  if (remaining.length > 0) {
    const reason = `gate ${name} opened by ${who}; still waiting at ${remaining.join(", ")}`;
    const rollout = next(opened, now, {
      reason,
      gates: { passed, waiting: { ...waiting, gates: remaining } },
    });
    return { rollout, event: { ...event, reason } };
  }
  const reason = `gate ${name} opened by ${who}; every gate ${describePoint(r, waiting.point)} is open, going on`;
  return { rollout: leaveGates(opened, now, reason), event: { ...event, reason } };
}
