/**
 * Analysis measurements in words: each one's verdict as a badge, its value, the sentence the
 * judge wrote (the value next to the condition), and the evidence behind it as short phrases
 * ("e-value 1.3, rolls back at ≥ 20", "canary 1,204 requests, 3 errors") rather than raw JSON.
 *
 * @module
 */

import type { AnalysisRun, MeasurementRecord } from "./api.js";
import { formatDuration, formatMs, formatNumber } from "./format.js";
import type { Badge } from "./phase.js";

/** The verdict of one measurement. The sequential judge's "keep watching" is not a pass. */
export function verdictOf(m: MeasurementRecord): Badge {
  const decision = m.evidence.decision;
  switch (m.phase) {
    case "Successful":
      return decision === "continue"
        ? {
            label: "Watching",
            tone: "progress",
            icon: "search",
            title: "no decision yet: more data is needed",
          }
        : { label: "Pass", tone: "healthy", icon: "check", title: "the condition holds" };
    case "Failed":
      return {
        label: "Fail",
        tone: "aborted",
        icon: "cross",
        title: "the condition does not hold",
      };
    case "Inconclusive":
      return {
        label: "Inconclusive",
        tone: "paused",
        icon: "pause",
        title: "not enough data to decide; an inconclusive run pauses the rollout for a person",
      };
    case "Error":
      return {
        label: "Error",
        tone: "aborted",
        icon: "warning",
        title: "the measurement itself failed (provider or query)",
      };
    default:
      return { label: String(m.phase), tone: "idle", icon: "dot", title: "" };
  }
}

/** The run's phase as a badge. */
export function runBadge(run: AnalysisRun): Badge {
  switch (run.phase) {
    case "Running":
      return { label: "Running", tone: "analyzing", icon: "search", title: run.message };
    case "Successful":
      return { label: "Successful", tone: "healthy", icon: "check", title: run.message };
    case "Failed":
      return { label: "Failed", tone: "aborted", icon: "cross", title: run.message };
    case "Error":
      return { label: "Error", tone: "aborted", icon: "warning", title: run.message };
    case "Inconclusive":
      return { label: "Inconclusive", tone: "paused", icon: "pause", title: run.message };
    default:
      return { label: String(run.phase), tone: "idle", icon: "dot", title: run.message };
  }
}

/** "Step 3 analysis" or "Background analysis", with its attempt when retried. */
export function runTitle(run: AnalysisRun): string {
  const attempt = /:(\d+)$/.exec(run.id)?.[1];
  const again = attempt !== undefined && attempt !== "1" ? ` (attempt ${attempt})` : "";
  return run.kind === "background"
    ? `Background analysis${again}`
    : `Step ${(run.stepIndex ?? 0) + 1} analysis${again}`;
}

/** A measured value for display; small fractions keep their digits. */
export function valueText(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "no value";
  const abs = Math.abs(v);
  if (abs !== 0 && abs < 0.01) return String(Number(v.toPrecision(2)));
  if (abs >= 1e6) return v.toExponential(2);
  return formatNumber(v, abs < 1 ? 4 : 2);
}

type Evidence = Record<string, unknown>;

/**
 * A measurement's value, saying what it is when it is not the metric itself: the sequential
 * judge's value is its e-value, which read bare next to "error-rate" looks like a rate.
 */
export function measurementValueText(m: Pick<MeasurementRecord, "value" | "evidence">): string {
  if (m.value !== null && m.evidence.eValue === m.value) return `e-value ${valueText(m.value)}`;
  if (m.value !== null && m.evidence.kind === "score") return `score ${valueText(m.value)}`;
  return valueText(m.value);
}

const num = (x: unknown): number | undefined =>
  typeof x === "number" && Number.isFinite(x) ? x : undefined;

/** The numbers of one arm: `{ requests, events }` (sequential) or `{ n }` (Mann-Whitney). */
function armWords(name: string, arm: unknown, eventWord: string): string | undefined {
  if (typeof arm !== "object" || arm === null) return undefined;
  const a = arm as Record<string, unknown>;
  const requests = num(a.requests);
  const events = num(a.events);
  if (requests !== undefined)
    return `${name} ${formatNumber(requests, 0)} requests${events !== undefined ? `, ${formatNumber(events, 0)} ${eventWord}` : ""}`;
  const n = num(a.n);
  return n !== undefined ? `${name} ${formatNumber(n, 0)} samples` : undefined;
}

/** Keys read into phrases below, or not worth showing on their own. */
const HANDLED = new Set([
  "decision",
  "kind",
  "alpha",
  "margin",
  "threshold",
  "eValue",
  "logEValue",
  "maxLogEValue",
  "pValue",
  "ratioLower",
  "ratioUpper",
  "cumulative",
  "interval",
  "intervals",
  "rho",
  "bakedMs",
  "minBakeMs",
  "noTraffic",
  "calibrating",
  "slowEdgeMs",
  "canaryShareUpper",
  "canaryShareLower",
  "stableShare",
  "stableShareLower",
  "stableShareUpper",
  "bound",
  "direction",
  "dispersion",
  "driftVariance",
  "evidenceSinceMs",
  "warmingUp",
  "warmupMs",
  "stableQuantileMs",
  "quantile",
  "failedAt",
  "canary",
  "stable",
  "increase",
  "ratio",
  "maxIncrease",
  "maxRatio",
  "minSamples",
  "canaryRequests",
  "samplesUnknown",
  "label",
  "estimate",
  "lower",
  "upper",
  "code",
  "score",
  "weightedScore",
  "classification",
  "pass",
  "marginal",
  "groups",
  "contributions",
]);

const DECISIONS: Record<string, string> = {
  continue: "no decision yet, keep watching",
  pass: "decision: pass",
  fail: "decision: roll back",
  inconclusive: "decision: inconclusive, a person decides",
};

/** The evidence as short phrases, most telling first; unknown simple fields as `name: value`. */
export function evidenceInWords(evidence: Evidence): string[] {
  const out: string[] = [];
  const e = evidence;
  const eventWord = e.kind === "latency" ? "slow" : "errors";
  if (typeof e.decision === "string") out.push(DECISIONS[e.decision] ?? `decision: ${e.decision}`);
  if (e.calibrating === true) out.push("fixing the slow threshold from stable's p99");
  const warmup = num(e.warmupMs);
  if (e.warmingUp === true)
    out.push(
      `warming up: the first ${warmup !== undefined ? formatDuration(warmup) : "stretch"} is shown, not counted`,
    );
  if (e.noTraffic === true) out.push("no traffic on one side in this interval");

  if (e.kind === "score") out.push(...scoreInWords(e));

  const eValue = num(e.eValue);
  const threshold = num(e.threshold);
  if (eValue !== undefined)
    out.push(
      `e-value ${valueText(eValue)}${threshold !== undefined ? `, rolls back at ≥ ${valueText(threshold)}` : ""}`,
    );
  const p = num(e.pValue);
  if (p !== undefined) out.push(`p-value ${valueText(p)}`);
  const lo = num(e.ratioLower);
  const hi = e.ratioUpper === null ? Number.POSITIVE_INFINITY : num(e.ratioUpper);
  if (lo !== undefined && hi !== undefined) {
    const margin = num(e.margin);
    const decrease = e.direction === "decrease";
    const bound =
      num(e.bound) ?? (margin !== undefined ? (decrease ? 1 - margin : 1 + margin) : undefined);
    out.push(
      `canary/stable rate ratio between ${valueText(lo)} and ${Number.isFinite(hi) ? valueText(hi) : "∞"}${bound !== undefined ? ` (passes ${decrease ? "above" : "below"} ${valueText(bound)})` : ""}`,
    );
  }
  const phi = num(e.dispersion);
  if (phi !== undefined && phi >= 1.05)
    out.push(`this interval discounted ${valueText(phi)}× for drift between the versions`);
  const since = num(e.evidenceSinceMs);
  if (since !== undefined)
    out.push(`most of the evidence from the e-process started at ${formatDuration(since)}`);
  const cumulative = e.cumulative as Record<string, unknown> | undefined;
  for (const side of ["canary", "stable"] as const) {
    const words = armWords(side, cumulative?.[side] ?? e[side], eventWord);
    if (words !== undefined) out.push(words);
  }
  const baked = num(e.bakedMs);
  const minBake = num(e.minBakeMs);
  if (baked !== undefined)
    out.push(
      `watched ${formatDuration(baked)}${minBake !== undefined && minBake > 0 ? ` of at least ${formatDuration(minBake)}` : ""}`,
    );
  const slow = num(e.slowEdgeMs);
  if (slow !== undefined) out.push(`slow means over ${formatMs(slow)}`);

  // The relative judge: values, difference, ratio and what is allowed.
  const canary = num(e.canary);
  const stable = num(e.stable);
  if (canary !== undefined || stable !== undefined)
    out.push(
      `canary ${canary !== undefined ? valueText(canary) : "no data"}, stable ${stable !== undefined ? valueText(stable) : "no data"}`,
    );
  const inc = num(e.increase);
  const maxInc = num(e.maxIncrease);
  if (inc !== undefined)
    out.push(
      `difference ${inc >= 0 ? "+" : "−"}${valueText(Math.abs(inc))}${maxInc !== undefined ? ` (at most +${valueText(maxInc)} allowed)` : ""}`,
    );
  const ratio = num(e.ratio);
  const maxRatio = num(e.maxRatio);
  if (ratio !== undefined)
    out.push(
      `ratio ×${valueText(ratio)}${maxRatio !== undefined ? ` (at most ×${valueText(maxRatio)} allowed)` : ""}`,
    );
  const reqs = num(e.canaryRequests);
  const minSamples = num(e.minSamples);
  if (reqs !== undefined && minSamples !== undefined)
    out.push(
      `${formatNumber(reqs, 0)} canary requests (at least ${formatNumber(minSamples, 0)} needed)`,
    );
  if (e.samplesUnknown === true) out.push("canary request count unknown");

  // Mann-Whitney (Kayenta): the classification and the confidence interval of the difference.
  if (typeof e.label === "string") {
    const est = num(e.estimate);
    const lower = num(e.lower);
    const upper = num(e.upper);
    out.push(
      `classified ${e.label}${est !== undefined ? `: difference ${valueText(est)}` : ""}${lower !== undefined && upper !== undefined ? ` (${valueText(lower)} to ${valueText(upper)})` : ""}`,
    );
  }

  for (const [key, value] of Object.entries(e)) {
    if (HANDLED.has(key)) continue;
    if (typeof value === "number" && Number.isFinite(value))
      out.push(`${words(key)}: ${valueText(value)}`);
    else if (typeof value === "string" && value.length <= 80) out.push(`${words(key)}: ${value}`);
    else if (typeof value === "boolean") out.push(`${words(key)}: ${value ? "yes" : "no"}`);
  }
  return out;
}

/** A scored template's verdict: the score against its limits, then each metric's part. */
function scoreInWords(e: Evidence): string[] {
  const out: string[] = [];
  const score = num(e.score);
  const pass = num(e.pass);
  const marginal = num(e.marginal);
  if (score !== undefined)
    out.push(
      `score ${valueText(score)} of 100${pass !== undefined && marginal !== undefined ? ` (passes ≥ ${valueText(pass)}, fails ≤ ${valueText(marginal)})` : ""}`,
    );
  const weighted = num(e.weightedScore);
  if (weighted !== undefined && score !== undefined && weighted !== score)
    out.push(`weighted sum ${valueText(weighted)} before the override`);
  if (!Array.isArray(e.contributions)) return out;
  for (const c of e.contributions as Array<Record<string, unknown>>) {
    const points = num(c.points);
    const of = num(c.of);
    if (typeof c.metric !== "string" || points === undefined || of === undefined) continue;
    const tags = [c.critical === true ? "critical" : "", c.muted === true ? "muted" : ""]
      .filter(Boolean)
      .join(", ");
    out.push(
      `${c.metric} ${String(c.label)}: ${c.muted === true ? "not scored" : `${valueText(points)} of ${valueText(of)} points`}${tags !== "" ? ` (${tags})` : ""}`,
    );
  }
  return out;
}

/** `canaryShareUpper` → `canary share upper`. */
function words(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/[_-]+/g, " ")
    .toLowerCase();
}

/** Runs newest first, each with its measurements newest first. */
export function newestFirst(runs: readonly AnalysisRun[]): AnalysisRun[] {
  return [...runs]
    .sort((a, b) => b.startedAt - a.startedAt)
    .map((r) => ({ ...r, measurements: [...r.measurements].reverse() }));
}
