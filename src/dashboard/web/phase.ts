/**
 * What a service's state looks like at a glance: its phase as a badge (text, icon and tone,
 * so colour is never the only signal), the canary's health against stable, what needs a
 * person's attention, and the overview's filters and order.
 *
 * @module
 */

import type { ServiceMetrics, ServiceView } from "./api.js";
import { formatErrorRate } from "./format.js";
import { stepsOf, strategyOf } from "./strategy.js";

/** The colour family of a badge; every tone also has its own icon and words. */
export type Tone =
  | "progress"
  | "paused"
  | "waiting"
  | "analyzing"
  | "promoting"
  | "healthy"
  | "aborted"
  | "idle";

export type IconName =
  | "play"
  | "pause"
  | "gate"
  | "search"
  | "arrow-up"
  | "check"
  | "cross"
  | "dot"
  | "split"
  | "warning";

export interface Badge {
  label: string;
  tone: Tone;
  icon: IconName;
  /** A longer explanation (a tooltip and the accessible description). */
  title: string;
}

/** The phase badge of a service: its rollout's phase, or how it runs without one. */
export function phaseBadge(view: ServiceView): Badge {
  const r = view.rollout;
  const t = view.traffic;
  if (r === null) {
    return t.canary === null
      ? {
          label: "Stable",
          tone: "idle",
          icon: "dot",
          title: `no rollout: all traffic goes to ${t.stable.version}`,
        }
      : {
          label: "Static split",
          tone: "idle",
          icon: "split",
          title: `no rollout: ${t.weight}% goes to ${t.canary.version} by the spec's weight`,
        };
  }
  switch (r.phase) {
    case "Progressing":
      return { label: "Progressing", tone: "progress", icon: "play", title: r.reason };
    case "Paused":
      // A timed pause goes on by itself; a manual pause step or an operator's waits for a person.
      return r.pausedAt === null
        ? { label: "Timed pause", tone: "progress", icon: "pause", title: r.reason }
        : { label: "Paused", tone: "paused", icon: "pause", title: r.reason };
    case "Waiting":
      return { label: "Waiting at gate", tone: "waiting", icon: "gate", title: r.reason };
    case "Analyzing":
      return { label: "Analyzing", tone: "analyzing", icon: "search", title: r.reason };
    case "Promoting":
      return { label: "Promoting", tone: "promoting", icon: "arrow-up", title: r.reason };
    case "Healthy":
      return { label: "Healthy", tone: "healthy", icon: "check", title: r.reason };
    case "Aborted":
      return { label: "Aborted", tone: "aborted", icon: "cross", title: r.reason };
    default:
      return { label: String(r.phase), tone: "idle", icon: "dot", title: r.reason };
  }
}

/** True while the rollout can still move (not Healthy, not Aborted). */
export function isActive(view: ServiceView): boolean {
  const p = view.rollout?.phase;
  return p !== undefined && p !== "Healthy" && p !== "Aborted";
}

/** Paused and waiting for a person (an operator pause or a manual pause step), not a timed pause. */
export function isHeld(view: ServiceView): boolean {
  return view.rollout?.phase === "Paused" && view.rollout.pausedAt !== null;
}

/** The canary's error rate against stable's, from the metrics summary. */
export type Health =
  | { kind: "unknown" }
  /** No canary in the traffic: nothing to compare. */
  | { kind: "no-canary"; stable: number | null }
  /** A canary with no requests in the window. */
  | { kind: "no-data"; stable: number | null }
  | { kind: "ok" | "worse"; canary: number; stable: number | null };

/**
 * "Worse" at a glance: the canary's error rate is more than one percentage point above
 * stable's and more than double it. A display hint only; the analysis decides rollbacks.
 */
export function healthOf(metrics: ServiceMetrics | undefined): Health {
  if (metrics === undefined) return { kind: "unknown" };
  const stable = metrics.versions.find((v) => v.role === "stable")?.summary.errorRate ?? null;
  const canary = metrics.versions.find((v) => v.role === "canary");
  if (canary === undefined) return { kind: "no-canary", stable };
  const rate = canary.summary.errorRate;
  if (rate === null || canary.summary.requests === 0) return { kind: "no-data", stable };
  const base = stable ?? 0;
  const worse = rate > base + 0.01 && rate > 2 * base;
  return { kind: worse ? "worse" : "ok", canary: rate, stable };
}

/** The health in words: `canary 4.2% vs stable 0.1% errors`. */
export function healthText(h: Health): string {
  const stable = (h: { stable: number | null }) =>
    h.stable === null ? "no stable requests" : `stable ${formatErrorRate(h.stable)} errors`;
  switch (h.kind) {
    case "unknown":
      return "no metrics yet";
    case "no-canary":
      return h.stable === null ? "no requests in the last minute" : stable(h);
    case "no-data":
      return `no canary requests yet; ${stable(h)}`;
    default:
      return `canary ${formatErrorRate(h.canary)} vs stable ${formatErrorRate(h.stable)} errors`;
  }
}

/** Why a person should look: an abort, a gate, a pause, or a canary failing at a glance. */
export interface Attention {
  kind: "aborted" | "failing" | "waiting" | "paused";
  text: string;
}

export function attentionOf(view: ServiceView, health: Health): Attention | null {
  const r = view.rollout;
  if (r?.phase === "Aborted") return { kind: "aborted", text: r.reason };
  if (health.kind === "worse" && isActive(view))
    return { kind: "failing", text: `errors above stable: ${healthText(health)}` };
  if (r?.phase === "Waiting") {
    const gates = r.gates.waiting?.gates ?? [];
    return {
      kind: "waiting",
      text: gates.length > 0 ? `waiting at gate ${gates.join(", ")}` : r.reason,
    };
  }
  if (isHeld(view)) return { kind: "paused", text: r?.reason ?? "" };
  return null;
}

export const PHASE_FILTERS = ["all", "active", "paused", "waiting", "failing"] as const;
export type PhaseFilter = (typeof PHASE_FILTERS)[number];

export function isPhaseFilter(s: string): s is PhaseFilter {
  return (PHASE_FILTERS as readonly string[]).includes(s);
}

/** Whether a service passes the overview's phase filter and text search. */
export function matchesFilter(
  view: ServiceView,
  health: Health,
  filter: PhaseFilter,
  text: string,
): boolean {
  const needle = text.trim().toLowerCase();
  if (needle !== "") {
    const hay = [
      view.name,
      view.traffic.stable.version,
      view.traffic.canary?.version ?? "",
      view.rollout?.canary.version ?? "",
    ]
      .join(" ")
      .toLowerCase();
    if (!needle.split(/\s+/).every((w) => hay.includes(w))) return false;
  }
  const phase = view.rollout?.phase;
  switch (filter) {
    case "all":
      return true;
    case "active":
      return isActive(view);
    case "paused":
      return isHeld(view);
    case "waiting":
      return phase === "Waiting";
    case "failing":
      return phase === "Aborted" || (health.kind === "worse" && isActive(view));
    default:
      return true;
  }
}

const ATTENTION_ORDER: Record<Attention["kind"], number> = {
  aborted: 0,
  failing: 0,
  waiting: 1,
  paused: 2,
};

/** What needs a person first, then what is moving, then the rest; by name within each. */
export function overviewOrder(
  a: { view: ServiceView; attention: Attention | null },
  b: { view: ServiceView; attention: Attention | null },
): number {
  const rank = (x: typeof a) =>
    x.attention !== null ? ATTENTION_ORDER[x.attention.kind] : isActive(x.view) ? 3 : 4;
  return rank(a) - rank(b) || a.view.name.localeCompare(b.view.name);
}

/** "step 3 of 7", "promotion", or "" without a rollout. */
export function stepText(view: ServiceView): string {
  const r = view.rollout;
  if (r === null) return "";
  const steps = stepsOf(r);
  if (r.phase === "Healthy") return "promoted";
  if (r.stepIndex >= steps.length)
    return strategyOf(r).autoPromote === false ? "promotion (manual)" : "promotion";
  return `step ${r.stepIndex + 1} of ${steps.length}`;
}
