/**
 * The demo's running commentary: one short line per thing that happened to the rollout (from
 * the event hub), and a traffic line every few seconds from what the users saw. Pure
 * functions from events and counts to text, so they are tested without a terminal.
 *
 * @module
 */

import type { RolloutEvent } from "../rollout/types.js";
import { quantile, type VersionCounts } from "./load.js";

export interface Paint {
  good(s: string): string;
  bad(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const ESC = "\u001b[";
export const colours: Paint = {
  good: (s) => `${ESC}32m${s}${ESC}39m`,
  bad: (s) => `${ESC}31m${s}${ESC}39m`,
  dim: (s) => `${ESC}2m${s}${ESC}22m`,
  bold: (s) => `${ESC}1m${s}${ESC}22m`,
};
export const plain: Paint = { good: (s) => s, bad: (s) => s, dim: (s) => s, bold: (s) => s };

/** `m:ss` since the demo started. */
export function clockLabel(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The line for a history event, or undefined for events not worth a line. */
export function describeEvent(e: RolloutEvent, p: Paint): string | undefined {
  const canary = typeof e.data.canary === "string" ? e.data.canary : undefined;
  switch (e.type) {
    case "rollout.started":
      return p.bold(`${canary ?? "a new version"} deployed: the rollout starts`);
    case "route.set":
      return "beta testers (user-type: beta-tester) now get the canary";
    case "route.removed":
      return "beta-tester route removed";
    case "weight.set":
      return `canary weight ${e.data.from}% → ${e.data.to}% of users`;
    case "step.started":
      return e.reason.startsWith("step") ? p.dim(e.reason) : undefined;
    case "paused":
      return `paused: ${e.reason}`;
    case "gate.waiting":
      return `waiting: ${e.reason}`;
    case "aborted":
      return e.actor === "analysis"
        ? p.bad(`✗ rolled back by the analysis: ${e.reason}`)
        : p.bad(`✗ rolled back: ${e.reason}`);
    case "promoted":
      return p.good(`✓ ${e.reason}`);
    default:
      return undefined;
  }
}

function pct(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : "–";
}

/** "v1 94.8% err 0.4% p99 31ms · v2 5.2% err 8.1% p99 96ms" over the recent window. */
export function trafficLine(recent: Map<string, VersionCounts>, p: Paint): string {
  const total = [...recent.values()].reduce((n, c) => n + c.requests, 0);
  if (total === 0) return p.dim("no traffic yet");
  const parts = [...recent.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([version, c]) => {
      const p99 = quantile(c.latenciesMs, 0.99);
      const errors = pct(c.failed, c.requests);
      const err = c.failed / c.requests > 0.02 ? p.bad(`err ${errors}`) : `err ${errors}`;
      return `${p.bold(version)} ${pct(c.requests, total)} ${err} p99 ${Number.isFinite(p99) ? Math.round(p99) : "–"}ms`;
    });
  return p.dim("traffic ") + parts.join(p.dim(" · "));
}

/** The line for an event of the flag's rollout (`flag:new-checkout`), in the flag's words. */
export function describeFlagEvent(e: RolloutEvent, p: Paint): string | undefined {
  const flag = e.service.replace(/^flag:/, "");
  switch (e.type) {
    case "rollout.started":
      return p.bold(`${flag}: the rollout starts (beta testers get "on" first)`);
    case "weight.set":
      return `${flag}: "on" for ${e.data.to}% of users, plus the beta testers`;
    case "aborted":
      return e.actor === "analysis"
        ? p.bad(`✗ the analysis switched ${flag} off for everyone: ${e.reason}`)
        : p.bad(`✗ ${flag} switched off: ${e.reason}`);
    case "promoted":
      return p.good(`✓ ${flag} is on for everyone: ${e.reason}`);
    case "route.set":
    case "route.removed":
      return undefined;
    default:
      return describeEvent(e, p);
  }
}
