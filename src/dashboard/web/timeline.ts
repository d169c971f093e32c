/**
 * The step timeline of a rollout: every step of its strategy, the gates placed where they
 * hold it (before any traffic moves, before each weight increase, before promotion), and the
 * promotion stage, each done, current or still to come; plus the countdown of a timed pause or
 * the promotion hold, computed on the server's clock.
 *
 * @module
 */

import type { Rollout } from "../../rollout/types.js";
import { formatDuration } from "./format.js";
import {
  type Gate,
  isManualPause,
  pauseMs,
  type Step,
  type StrategyView,
  stepLabel,
  strategyOf,
} from "./strategy.js";

export type ItemState = "done" | "current" | "upcoming" | "failed";

export interface TimelineItem {
  /** Stable across updates (for keyed rendering). */
  key: string;
  kind: "step" | "gate" | "promotion";
  /** 1-based number of a step; null for gates and the promotion. */
  number: number | null;
  label: string;
  state: ItemState;
  /** What is going on at the current item, in words ("waiting for promote"). */
  note: string | null;
  countdown: Countdown | null;
  /** For a gate: which one, and whether a hook can open it (else only an operator). */
  gate: { name: string; type: string; hasHook: boolean } | null;
}

export interface Countdown {
  kind: "pause" | "hold";
  totalMs: number;
  /** Left on the server's clock, never negative. */
  leftMs: number;
  /** An operator pause holds it: the time left does not run down. */
  frozen: boolean;
}

/** The gate types that hold a rollout at each kind of point (as `src/rollout/gates.ts`). */
const HOLDING = {
  start: ["confirm-rollout", "pre-rollout"],
  step: ["confirm-traffic-increase"],
  promotion: ["confirm-promotion"],
} as const;

function isTerminal(r: Rollout): boolean {
  return r.phase === "Healthy" || r.phase === "Aborted";
}

/** The countdown of the current timed pause or promotion hold, if the rollout is in one. */
export function countdownOf(r: Rollout, now: number): Countdown | null {
  if (isTerminal(r)) return null;
  const s = strategyOf(r);
  const step = s.steps[r.stepIndex];
  let kind: Countdown["kind"] = "pause";
  let totalMs: number | undefined;
  if (step !== undefined) totalMs = pauseMs(step);
  else if (s.promotionHoldMs > 0 && r.phase === "Promoting" && r.traffic.weight === 100) {
    kind = "hold";
    totalMs = s.promotionHoldMs;
  }
  if (totalMs === undefined) return null;
  const frozen = r.pausedAt !== null;
  const at = frozen ? (r.pausedAt as number) : now;
  return { kind, totalMs, leftMs: Math.max(0, r.stepStartedAt + totalMs - at), frozen };
}

/** The rollout's timeline at server time `now`. */
export function timelineOf(r: Rollout, now: number): TimelineItem[] {
  const s = strategyOf(r);
  const items: TimelineItem[] = [];
  const healthy = r.phase === "Healthy";
  const aborted = r.phase === "Aborted";
  // Held at a gate, the rollout is at the gate: the step (or promotion) behind it has not begun.
  const held = r.gates.waiting !== null && !isTerminal(r);
  const stateAt = (index: number): ItemState => {
    if (healthy || index < r.stepIndex) return "done";
    if (index === r.stepIndex) return aborted ? "failed" : held ? "upcoming" : "current";
    return "upcoming";
  };

  items.push(...gateItems(r, s, "start", HOLDING.start));
  let weight = 0;
  s.steps.forEach((step, i) => {
    if ("setWeight" in step) {
      if (step.setWeight > weight) items.push(...gateItems(r, s, `step${i}`, HOLDING.step));
      weight = step.setWeight;
    }
    const state = stateAt(i);
    items.push({
      key: `step${i}`,
      kind: "step",
      number: i + 1,
      label: stepLabel(step),
      state,
      note:
        state === "current"
          ? stepNote(r, step, now)
          : state === "failed"
            ? "aborted here"
            : held && i === r.stepIndex
              ? `after gate ${r.gates.waiting?.gates.join(", ")}`
              : null,
      countdown: state === "current" ? countdownOf(r, now) : null,
      gate: null,
    });
  });
  items.push(...gateItems(r, s, "promotion", HOLDING.promotion));
  const promotion = stateAt(s.steps.length);
  items.push({
    key: "promotion",
    kind: "promotion",
    number: null,
    label: s.autoPromote ? "Promotion" : "Promotion (waits for promote)",
    state: promotion,
    note:
      promotion === "current"
        ? promotionNote(r, s)
        : promotion === "failed"
          ? "aborted here"
          : healthy
            ? `${r.canary.version} is stable`
            : held && r.stepIndex >= s.steps.length
              ? `after gate ${r.gates.waiting?.gates.join(", ")}`
              : null,
    countdown: promotion === "current" ? countdownOf(r, now) : null,
    gate: null,
  });
  return items;
}

/** The index of the item the rollout is at (the first current one), or -1. */
export function currentItem(items: readonly TimelineItem[]): number {
  return items.findIndex((i) => i.state === "current" || i.state === "failed");
}

function gateItems(
  r: Rollout,
  s: StrategyView,
  point: string,
  types: readonly string[],
): TimelineItem[] {
  const passed = new Set(r.gates.passed);
  const waiting = r.gates.waiting;
  return s.gates
    .filter((g: Gate) => types.includes(g.type))
    .map((g): TimelineItem => {
      const isWaiting =
        waiting !== null && waiting.point === point && waiting.gates.includes(g.name);
      const state: ItemState = passed.has(`${g.name}@${point}`)
        ? "done"
        : isWaiting && !isTerminal(r)
          ? "current"
          : "upcoming";
      const hasHook = g.url !== undefined || g.urlFrom !== undefined;
      return {
        key: `gate:${g.name}@${point}`,
        kind: "gate",
        number: null,
        label: `Gate ${g.name}`,
        state,
        note:
          state === "current"
            ? hasHook
              ? "waiting: opens when its hook answers 2xx, or by an operator"
              : "waiting: only an operator can open it"
            : state === "done"
              ? "opened"
              : null,
        countdown: null,
        gate: { name: g.name, type: g.type.replace(/-/g, " "), hasHook },
      };
    });
}

function stepNote(r: Rollout, step: Step, now: number): string | null {
  if (isManualPause(step)) return "waiting for promote";
  if (r.pausedAt !== null) return `paused by an operator ${formatDuration(now - r.pausedAt)} ago`;
  if ("analysis" in step) return r.phase === "Analyzing" ? "analysis running" : r.reason;
  if (pauseMs(step) !== undefined) return null;
  return r.reason;
}

function promotionNote(r: Rollout, s: StrategyView): string | null {
  if (!s.autoPromote && r.traffic.weight === 100 && r.pausedAt !== null)
    return "waiting for promote";
  if (r.pausedAt !== null) return "paused by an operator";
  if (s.promotionHoldMs > 0 && r.traffic.weight === 100) return null;
  return r.reason;
}
