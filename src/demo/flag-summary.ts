/**
 * What the flag chapter shows at the end: how the analysis switched `new-checkout` off, that
 * the shop's deployment never moved, and what the users saw with each checkout. `ok` says
 * whether the chapter went as it should, for `--exit`.
 *
 * @module
 */

import type { RolloutEvent } from "../rollout/types.js";
import type { VersionCounts } from "./load.js";
import type { Paint } from "./narrate.js";

export interface FlagOutcome {
  startedAt: number;
  endedAt: number;
  /** When the flag's rollout started. */
  rolloutStartedAt: number;
  /** The event that ended the flag's rollout; undefined if it did not end in time. */
  end: RolloutEvent | undefined;
  /** The highest percent of users the new variant reached (beta testers aside). */
  maxWeight: number;
  /** The shop's stable version at the start and at the end, and its rollout events meanwhile. */
  stableBefore: string;
  stableAfter: string;
  shopEvents: number;
  /** Requests that got the new checkout in the last seconds of the chapter (after the abort). */
  newCheckoutAtEnd: number;
  served: Map<string, VersionCounts>;
  noAnswer: number;
  /** Rolled back by the analysis, and the shop's deployment untouched. */
  ok: boolean;
}

export function summarizeFlag(o: Omit<FlagOutcome, "ok">): FlagOutcome {
  const ok =
    o.end?.type === "aborted" &&
    o.end.actor === "analysis" &&
    o.stableBefore === o.stableAfter &&
    o.shopEvents === 0;
  return { ...o, ok };
}

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

const n = (v: number) => v.toLocaleString("en-US");

export function formatFlagSummary(o: FlagOutcome, p: Paint): string {
  const lines = ["", p.bold("Summary"), ""];
  const after = o.end ? seconds(o.end.at - o.rolloutStartedAt) : "";
  if (o.end?.type === "aborted") {
    const who = o.end.actor === "analysis" ? "by the analysis, on its own," : `by ${o.end.actor}`;
    lines.push(
      p.bad(`  ✗ new-checkout switched off ${who} ${after} after its rollout started`) +
        ` (it had reached ${o.maxWeight} % of users, plus the beta testers)`,
    );
    lines.push(`      why: ${o.end.reason}`);
  } else if (o.end?.type === "promoted") {
    lines.push(
      p.bad(`  ? new-checkout was promoted to everyone ${after} after its rollout started`),
    );
  } else {
    lines.push(p.bad("  ? new-checkout's rollout had not finished when the demo gave up on it"));
  }
  lines.push(
    `      users with the new checkout in the last 5 s: ${n(o.newCheckoutAtEnd)}` +
      (o.newCheckoutAtEnd === 0 ? " (everyone is back on the old one)" : ""),
  );
  if (o.stableBefore === o.stableAfter && o.shopEvents === 0)
    lines.push(
      p.good(`  ✓ the shop stayed on ${o.stableAfter} the whole time: no deployment, no restart`),
    );
  else
    lines.push(
      p.bad(
        `  ✗ the shop's deployment changed: ${o.stableBefore} → ${o.stableAfter}, ${o.shopEvents} rollout events`,
      ),
    );
  lines.push("", "  Requests as the users saw them:");
  const labels = [...o.served.entries()].sort(([a], [b]) => a.localeCompare(b));
  for (const [label, c] of labels) {
    const share = c.requests > 0 ? ((100 * c.failed) / c.requests).toFixed(2) : "0.00";
    lines.push(
      `    ${label.padEnd(16)} ${n(c.requests).padStart(7)} served  ${n(c.failed).padStart(5)} failed (${share} %)`,
    );
  }
  if (o.noAnswer > 0) lines.push(`    ${n(o.noAnswer)} requests got no answer at all`);
  lines.push("", `  The whole chapter took ${seconds(o.endedAt - o.startedAt)}.`);
  if (!o.ok) lines.push(p.bad("  The chapter did not go as planned: see the lines above."));
  return lines.join("\n");
}
