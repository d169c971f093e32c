/**
 * What a chat message says about an event, in plain text: a title, the facts worth a glance
 * (service, versions, weight, phase, step, actor), the reason, and whether it went well. Each
 * chat format lays this out and escapes it its own way; the words are chosen once, here.
 *
 * @module
 */

import type { RolloutEvent } from "../../rollout/types.js";
import { announcedAs } from "../filter.js";

/** What a format needs besides the event. */
export interface FormatContext {
  /** The delivery id (`X-Aviary-Delivery`), repeated on retries. */
  deliveryId: string;
  /**
   * The rollout's stable and canary versions when the caller knows them; most events do not
   * carry them, so without this only the events that do (started, promoted, undo) show them.
   */
  versions?: { stable: string; canary: string } | undefined;
}

/** Drives colours and emoji: aborts are bad news, promotions good, the rest neither. */
export type Outcome = "failure" | "success" | "neutral";

export interface Fact {
  label: string;
  value: string;
}

export interface Summary {
  /** The name the event is announced under (`analysis.failed` for an analysis abort). */
  event: string;
  /** `<service>: <what happened>`. */
  title: string;
  outcome: Outcome;
  facts: Fact[];
  /** The event's reason; may be empty. */
  reason: string;
  rolloutId: string | null;
  /** When it happened, ISO 8601. */
  at: string;
}

function headline(event: RolloutEvent, announced: string): string {
  switch (announced) {
    case "rollout.started":
      return "rollout started";
    case "rollout.retried":
      return "rollout retried";
    case "step.started":
      return event.stepIndex === null ? "step started" : `step ${event.stepIndex + 1} started`;
    case "weight.set":
      return event.weight === null ? "canary weight changed" : `canary weight ${event.weight}%`;
    case "paused":
      return "rollout paused";
    case "resumed":
      return "rollout resumed";
    case "gate.waiting": {
      const gates = names(event.data.gates);
      if (gates === undefined) return "waiting at a gate";
      return `waiting at ${gates.includes(",") ? "gates" : "gate"} ${gates}`;
    }
    case "gate.opened": {
      const gate = str(event.data.gate);
      return gate === undefined ? "gate opened" : `gate ${gate} opened`;
    }
    case "gate.passed":
      return "gates passed";
    case "analysis.failed":
      return "analysis failed, rollout aborted";
    case "aborted":
      return "rollout aborted";
    case "promoted":
      return "canary promoted";
    case "undo":
      return "promotion undone";
    case "route.set":
      return "header route set";
    case "route.removed":
      return "header route removed";
    case "mirror.set":
      return "mirroring started";
    case "mirror.removed":
      return "mirroring stopped";
    case "service.created":
      return "service created";
    case "service.removed":
      return "service removed from the spec";
    case "traffic.set":
      return "traffic changed";
    default:
      return announced;
  }
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** A list of names recorded in an event (`gates: ["qa", "load"]`) as `qa, load`. */
function names(v: unknown): string | undefined {
  if (!Array.isArray(v)) return undefined;
  const list = v.filter((x): x is string => typeof x === "string" && x !== "");
  return list.length === 0 ? undefined : list.join(", ");
}

/** `stable → canary` from the context or from what the event itself records. */
function versionsOf(event: RolloutEvent, ctx: FormatContext): string | undefined {
  if (ctx.versions !== undefined) return `${ctx.versions.stable} → ${ctx.versions.canary}`;
  const stable = str(event.data.stable);
  const canary = str(event.data.canary);
  if (stable !== undefined && canary !== undefined) return `${stable} → ${canary}`;
  // promoted and undo record the versions as from/to (weight.set uses from/to for weights).
  const from = str(event.data.from);
  const to = str(event.data.to);
  if (from !== undefined && to !== undefined) return `${from} → ${to}`;
  if (stable !== undefined) return stable;
  return undefined;
}

export function summarize(event: RolloutEvent, ctx: FormatContext): Summary {
  const announced = announcedAs(event);
  const facts: Fact[] = [{ label: "Service", value: event.service }];
  const versions = versionsOf(event, ctx);
  if (versions !== undefined) facts.push({ label: "Versions", value: versions });
  if (event.weight !== null) facts.push({ label: "Weight", value: `${event.weight}%` });
  if (event.phase !== null) facts.push({ label: "Phase", value: event.phase });
  if (event.stepIndex !== null) facts.push({ label: "Step", value: String(event.stepIndex + 1) });
  facts.push({ label: "Actor", value: event.actor });
  return {
    event: announced,
    title: `${event.service}: ${headline(event, announced)}`,
    outcome:
      event.type === "aborted" ? "failure" : event.type === "promoted" ? "success" : "neutral",
    facts,
    reason: event.reason,
    rolloutId: event.rolloutId,
    at: new Date(event.at).toISOString(),
  };
}

/**
 * `text` escaped and cut to at most `max` UTF-16 units, ending in `…` when cut. The raw text
 * is cut before escaping, so an escape sequence (`&amp;`, `\*`) is never split, and a
 * surrogate pair never halved.
 */
export function fit(text: string, max: number, esc: (s: string) => string = (s) => s): string {
  const whole = esc(text);
  if (whole.length <= max) return whole;
  const head = (n: number): string => {
    const h = text.slice(0, n);
    const last = h.charCodeAt(h.length - 1);
    return last >= 0xd800 && last <= 0xdbff ? h.slice(0, -1) : h;
  };
  // The escaped length grows with the raw length: find the longest raw head that fits.
  let lo = 0;
  let hi = Math.min(text.length, max - 1);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (esc(head(mid)).length + 1 <= max) lo = mid;
    else hi = mid - 1;
  }
  return `${esc(head(lo))}…`;
}
