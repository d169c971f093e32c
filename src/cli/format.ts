/**
 * Plain-text views of services, rollouts and history for the terminal.
 *
 * @module
 */

import { describeStep, type ResolvedStrategy } from "../rollout/steps.js";
import type { Rollout, RolloutEvent, ServiceState } from "../rollout/types.js";

export type ServiceView = ServiceState & { rollout: Rollout | null };

function formatServiceLine(v: ServiceView): string {
  const t = v.traffic;
  const canary = t.canary ? `${t.canary.version} at ${t.weight}%` : "-";
  const phase = v.rollout ? v.rollout.phase : "-";
  return [v.name.padEnd(16), t.stable.version.padEnd(12), canary.padEnd(18), phase].join(" ");
}

export function formatServiceTable(views: ServiceView[]): string {
  const header = ["SERVICE".padEnd(16), "STABLE".padEnd(12), "CANARY".padEnd(18), "PHASE"].join(
    " ",
  );
  return [header, ...views.map(formatServiceLine)].join("\n");
}

export function formatService(v: ServiceView): string {
  const t = v.traffic;
  const lines = [
    `service  ${v.name}`,
    `stable   ${t.stable.version}  ${t.stable.targets.join(" ")}`,
    `canary   ${t.canary ? `${t.canary.version}  ${t.canary.targets.join(" ")}` : "-"}`,
    `weight   ${t.canary ? `${t.weight}%` : "0%"}`,
  ];
  const r = v.rollout;
  if (r === null) return lines.join("\n");
  lines.push(
    `rollout  ${r.id}  ${r.stable.version} → ${r.canary.version}`,
    `phase    ${r.phase}: ${r.reason}`,
    "steps",
  );
  const steps = (r.strategy as ResolvedStrategy).steps;
  const done = r.phase === "Healthy";
  steps.forEach((step, i) => {
    const mark =
      done || i < r.stepIndex ? "✓" : i === r.stepIndex && r.phase !== "Aborted" ? "▶" : " ";
    lines.push(`  ${mark} ${String(i + 1).padStart(2)} ${describeStep(step)}`);
  });
  const promotionMark = done
    ? "✓"
    : r.stepIndex >= steps.length && r.phase !== "Aborted"
      ? "▶"
      : " ";
  lines.push(`  ${promotionMark}    promotion`);
  return lines.join("\n");
}

export function formatHistory(events: RolloutEvent[]): string {
  return events
    .map((e) => {
      const at = new Date(e.at)
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d+Z$/, "Z");
      const weight = e.weight === null ? "" : `${e.weight}%`;
      return `${at}  ${e.type.padEnd(16)} ${weight.padStart(4)}  ${e.actor.padEnd(18)} ${e.reason}`;
    })
    .join("\n");
}
