/**
 * What the demo shows at the end: what was caught and how fast, what was promoted, and how
 * many requests each version served and failed as the users saw them. `ok` says whether the
 * story went as it should (v2 rolled back by the analysis, v3 promoted), for `--exit`.
 *
 * @module
 */

import type { RolloutEvent } from "../rollout/types.js";
import type { VersionCounts } from "./load.js";
import type { Paint } from "./narrate.js";

export interface VersionOutcome {
  version: string;
  deployedAt: number;
  /** The event that ended its rollout; undefined if it did not end in time. */
  end: RolloutEvent | undefined;
  /** The highest canary weight it reached. */
  maxWeight: number;
}

export interface DemoOutcome {
  startedAt: number;
  endedAt: number;
  rollouts: VersionOutcome[];
  served: Map<string, VersionCounts>;
  noAnswer: number;
  /** Who carried the users' traffic, as the narration names it. */
  carriedBy?: string;
  /** v2 rolled back by the analysis and v3 promoted. */
  ok: boolean;
}

export function summarize(o: Omit<DemoOutcome, "ok">): DemoOutcome {
  const v2 = o.rollouts.find((r) => r.version === "v2");
  const v3 = o.rollouts.find((r) => r.version === "v3");
  const ok =
    v2?.end?.type === "aborted" && v2.end.actor === "analysis" && v3?.end?.type === "promoted";
  return { ...o, ok };
}

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

const n = (v: number) => v.toLocaleString("en-US");

export function formatSummary(o: DemoOutcome, p: Paint): string {
  const lines = ["", p.bold("Summary"), ""];
  for (const r of o.rollouts) {
    const after = r.end ? seconds(r.end.at - r.deployedAt) : "";
    if (r.end?.type === "aborted") {
      const who = r.end.actor === "analysis" ? "by the analysis, on its own," : `by ${r.end.actor}`;
      lines.push(
        p.bad(`  ✗ ${r.version} rolled back ${who} ${after} after it was deployed`) +
          ` (it had reached ${r.maxWeight} % of users, plus the beta testers)`,
      );
      lines.push(`      why: ${r.end.reason}`);
    } else if (r.end?.type === "promoted") {
      lines.push(
        p.good(`  ✓ ${r.version} promoted to stable ${after} after it was deployed`) +
          " (5 → 25 → 50 → 100 %, no regression found)",
      );
    } else {
      lines.push(p.bad(`  ? ${r.version} had not finished when the demo gave up on it`));
    }
  }
  const through = o.carriedBy === undefined ? "" : ` (through ${o.carriedBy})`;
  lines.push("", `  Requests as the users saw them${through}:`);
  const versions = [...o.served.entries()].sort(([a], [b]) => a.localeCompare(b));
  for (const [version, c] of versions) {
    const share = c.requests > 0 ? ((100 * c.failed) / c.requests).toFixed(2) : "0.00";
    lines.push(
      `    ${version.padEnd(5)} ${n(c.requests).padStart(7)} served  ${n(c.failed).padStart(5)} failed (${share} %)`,
    );
  }
  if (o.noAnswer > 0) lines.push(`    ${n(o.noAnswer)} requests got no answer at all`);
  lines.push("", `  The whole story took ${seconds(o.endedAt - o.startedAt)}.`);
  if (!o.ok) lines.push(p.bad("  The story did not go as planned: see the lines above."));
  return lines.join("\n");
}
