/**
 * The `get --watch` view as pure functions: what the CLI knows (service view, metrics, analysis
 * runs, connection) plus the server's time → styled lines. No I/O and no clock here, so tests
 * pin every line.
 *
 * @module
 */

import { describeStep } from "../../rollout/steps.js";
import type { Rollout } from "../../rollout/types.js";
import { formatDuration } from "../../util/duration.js";
import type { ServiceView } from "../format.js";
import {
  type AnalysisRun,
  heldAtGates,
  nextAction,
  stepsOf,
  timedWait,
  waitsFor,
} from "./status.js";
import {
  fit,
  type Line,
  padEndCols,
  padStartCols,
  paint,
  type Segment,
  type Style,
  seg,
} from "./text.js";

/** One version's traffic over the metrics window; null where there was no data. */
export interface VersionSummary {
  requests: number | null;
  errors: number | null;
  errorRate: number | null;
  rps: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

/** `GET /api/v1/services/:name/metrics`. */
export interface MetricsRead {
  service: string;
  from: number;
  to: number;
  step: number;
  versions: Array<{
    version: string;
    role: "stable" | "canary";
    summary: VersionSummary;
    series: unknown[];
  }>;
}

export type MetricsState =
  | { kind: "ok"; read: MetricsRead; window: string }
  | { kind: "unavailable" }
  | { kind: "error"; message: string };

/**
 * Whether the last read worked. When it did not, the view keeps showing what it had: `since`
 * is the server time of the first failure, `unreachable` tells a dead connection from an error
 * answer.
 */
export type ConnectionState =
  | { ok: true }
  | { ok: false; unreachable: boolean; since: number; error: string };

export interface WatchState {
  view: ServiceView;
  metrics: MetricsState;
  /** The current rollout's analysis runs; null when they could not be read. */
  runs: AnalysisRun[] | null;
  connection: ConnectionState;
}

export interface RenderOptions {
  /** Terminal columns; every line is cut to fit. */
  width: number;
  /** The server's time (epoch ms) the view is drawn for. */
  now: number;
  /** Measurements listed under analysis. */
  verdicts?: number;
}

const BAR_CELLS = 20;

const PHASE_STYLE: Record<string, Style> = {
  Healthy: "green",
  Aborted: "boldRed",
  Paused: "yellow",
  Waiting: "yellow",
  Progressing: "cyan",
  Analyzing: "cyan",
  Promoting: "green",
};

/** The view as styled lines, each cut to the width. */
export function renderWatch(state: WatchState, opts: RenderOptions): Line[] {
  const { view } = state;
  const r = view.rollout;
  const lines: Line[] = [];
  if (!state.connection.ok) {
    const c = state.connection;
    const since = formatDuration(Math.max(0, opts.now - c.since));
    lines.push([
      seg(
        c.unreachable ? "connection lost, retrying…" : "cannot read the service, retrying…",
        "boldRed",
      ),
      seg(` (${since}; ${c.error})`, "red"),
    ]);
  }
  lines.push(header(view, opts.now));
  if (r !== null) {
    lines.push([seg("  "), seg(r.reason)]);
    lines.push([
      seg(
        `  rollout ${r.id}  ${r.stable.version} → ${r.canary.version}  started ${clock(r.createdAt)} (${formatDuration(Math.max(0, opts.now - r.createdAt))} ago)`,
        "dim",
      ),
    ]);
  }
  lines.push([]);
  if (r !== null) {
    lines.push([seg("steps", "bold")]);
    lines.push(...stepLines(r, opts.now));
    lines.push([]);
  }
  lines.push(weightLine(view));
  lines.push([]);
  lines.push(...metricLines(view, state.metrics));
  if (r !== null) {
    lines.push([]);
    lines.push(...analysisLines(state.runs, opts.verdicts ?? 5));
  }
  const next = nextAction(view, state.runs);
  if (next !== undefined) {
    lines.push([]);
    lines.push([
      seg("next  ", "bold"),
      seg(next, r !== null && waitsFor(r, state.runs) !== undefined ? "yellow" : undefined),
    ]);
  }
  return lines.map((line) => fit(line, opts.width));
}

/** The view as terminal text, one string per line. */
export function renderWatchText(
  state: WatchState,
  opts: RenderOptions & { color: boolean },
): string[] {
  return renderWatch(state, opts).map((line) => paint(line, opts.color));
}

function header(view: ServiceView, now: number): Line {
  const r = view.rollout;
  const t = view.traffic;
  const out: Segment[] = [seg(view.name, "bold"), seg("  ")];
  if (r !== null) out.push(seg(r.phase, PHASE_STYLE[r.phase]), seg("  "));
  else out.push(seg("no rollout", "dim"), seg("  "));
  out.push(seg(`stable ${t.stable.version}`));
  out.push(seg(" · "));
  out.push(t.canary ? seg(`canary ${t.canary.version}`) : seg("no canary", "dim"));
  out.push(seg(`   server time ${clock(now)} UTC`, "dim"));
  return out;
}

function stepLines(r: Rollout, now: number): Line[] {
  const steps = stepsOf(r);
  const healthy = r.phase === "Healthy";
  const aborted = r.phase === "Aborted";
  const wait = timedWait(r, now);
  const out: Line[] = [];
  const mark = (i: number): Segment => {
    if (healthy || i < r.stepIndex) return seg("✓", "green");
    if (i === r.stepIndex) return aborted ? seg("✗", "red") : seg("▶", "cyan");
    return seg(" ");
  };
  steps.forEach((step, i) => {
    const current = i === r.stepIndex && !healthy && !aborted;
    const line: Line = [seg("  "), mark(i), seg(` ${String(i + 1).padStart(2)} `)];
    line.push(seg(describeStep(step), current ? "bold" : i < r.stepIndex ? "dim" : undefined));
    if (current) line.push(...currentDetail(r, wait, now, "pause" in step && !step.pause.duration));
    out.push(line);
  });
  const promotion: Line = [seg("  "), mark(steps.length), seg("    "), seg("promotion")];
  if (r.stepIndex >= steps.length && !healthy && !aborted)
    promotion.push(...currentDetail(r, wait, now, r.pausedAt !== null));
  out.push(promotion);
  return out;
}

function currentDetail(
  r: Rollout,
  wait: ReturnType<typeof timedWait>,
  now: number,
  atGate: boolean,
): Segment[] {
  const held = heldAtGates(r);
  const since = r.gates?.waiting?.since;
  if (held !== undefined && r.pausedAt === null) {
    const names = held.map((g) => `${g.name}${g.hook ? " (asking its hook)" : ""}`).join(", ");
    const time = since !== undefined ? ` for ${formatDuration(Math.max(0, now - since))}` : "";
    return [seg(" — "), seg(`held at gate ${names}${time}`, "yellow")];
  }
  if (wait !== undefined) {
    const left =
      wait.leftMs > 0 ? `${formatDuration(Math.ceil(wait.leftMs / 1000) * 1000)} left` : "ending";
    const what = wait.kind === "hold" ? `hold ${formatDuration(wait.durationMs)}, ` : "";
    return [
      seg(" — "),
      seg(`${what}${left}`, "yellow"),
      ...(wait.frozen ? [seg(" (frozen while paused)", "dim")] : []),
    ];
  }
  if (r.pausedAt !== null) {
    return [
      seg(" — "),
      seg(
        atGate
          ? "waiting for promote"
          : `paused for ${formatDuration(Math.max(0, now - r.pausedAt))}`,
        "yellow",
      ),
    ];
  }
  return [seg(` — for ${formatDuration(Math.max(0, now - r.stepStartedAt))}`, "dim")];
}

/** `[████░░░░░░░░░░░░░░░░] 20%` */
export function weightBar(weight: number): string {
  const w = Math.min(100, Math.max(0, weight));
  const filled = Math.round((w / 100) * BAR_CELLS);
  return `[${"█".repeat(filled)}${"░".repeat(BAR_CELLS - filled)}] ${formatNumber(w)}%`;
}

function weightLine(view: ServiceView): Line {
  const t = view.traffic;
  const weight = t.canary ? t.weight : 0;
  const out: Line = [
    seg("weight  ", "bold"),
    seg(weightBar(weight), weight > 0 ? "cyan" : undefined),
  ];
  if (t.headerRoutes.length > 0)
    out.push(seg(`   header routes: ${t.headerRoutes.map((h) => h.name).join(", ")}`));
  if (t.mirror !== null) out.push(seg(`   mirror ${formatNumber(t.mirror.percent)}%`));
  return out;
}

function metricLines(view: ServiceView, metrics: MetricsState): Line[] {
  if (metrics.kind === "unavailable") return [[seg("metrics: not available", "dim")]];
  if (metrics.kind === "error") return [[seg("metrics: "), seg(metrics.message, "red")]];
  const byRole = (role: "stable" | "canary") => metrics.read.versions.find((v) => v.role === role);
  const columns = [
    { label: `stable ${view.traffic.stable.version}`, data: byRole("stable") },
    ...(view.traffic.canary || byRole("canary")
      ? [
          {
            label: `canary ${view.traffic.canary?.version ?? byRole("canary")?.version ?? ""}`,
            data: byRole("canary"),
          },
        ]
      : []),
  ];
  const rows: Array<[string, (s: VersionSummary) => string]> = [
    ["error rate", (s) => (s.errorRate === null ? "–" : `${formatNumber(s.errorRate * 100, 2)}%`)],
    ["p99", (s) => (s.p99Ms === null ? "–" : `${formatNumber(s.p99Ms)} ms`)],
    ["rps", (s) => (s.rps === null ? "–" : formatNumber(s.rps))],
    ["requests", (s) => (s.requests === null ? "–" : String(s.requests))],
  ];
  const width = Math.max(14, ...columns.map((c) => c.label.length + 2));
  const out: Line[] = [
    [
      seg(padEndCols(`metrics, last ${metrics.window}`, 20), "bold"),
      ...columns.map((c) => seg(padStartCols(c.label, width))),
    ],
  ];
  for (const [label, cell] of rows) {
    const line: Line = [seg(padEndCols(`  ${label}`, 20))];
    for (const [i, c] of columns.entries()) {
      const text = c.data === undefined ? "–" : cell(c.data.summary);
      line.push(
        seg(
          padStartCols(text, width),
          i > 0 && worse(label, c.data, columns[0]?.data) ? "yellow" : undefined,
        ),
      );
    }
    out.push(line);
  }
  return out;
}

/** Whether the canary looks worse than stable on an error or latency row (for colour only). */
function worse(
  row: string,
  canary: MetricsRead["versions"][number] | undefined,
  stable: MetricsRead["versions"][number] | undefined,
): boolean {
  if (canary === undefined || stable === undefined) return false;
  const pick =
    row === "error rate"
      ? (s: VersionSummary) => s.errorRate
      : row === "p99"
        ? (s: VersionSummary) => s.p99Ms
        : undefined;
  if (pick === undefined) return false;
  const c = pick(canary.summary);
  const s = pick(stable.summary);
  return c !== null && s !== null && c > s * 1.1 && c > 0;
}

const RUN_STYLE: Record<string, Style> = {
  Successful: "green",
  Failed: "red",
  Error: "red",
  Inconclusive: "yellow",
  Running: "cyan",
};

function analysisLines(runs: AnalysisRun[] | null, verdicts: number): Line[] {
  if (runs === null) return [[seg("analysis  ", "bold"), seg("could not be read", "dim")]];
  if (runs.length === 0) return [[seg("analysis  ", "bold"), seg("none for this rollout", "dim")]];
  const out: Line[] = [[seg("analysis", "bold")]];
  for (const run of runs.slice(-3)) {
    const what = run.kind === "inline" ? `step ${(run.stepIndex ?? 0) + 1}` : "background";
    out.push([
      seg(`  ${what.padEnd(12)}`),
      seg(run.phase, RUN_STYLE[run.phase]),
      seg(run.message ? `  ${run.message}` : ""),
    ]);
  }
  const measurements = runs
    .flatMap((run) => run.measurements)
    .sort((a, b) => a.finishedAt - b.finishedAt || a.seq - b.seq)
    .slice(-verdicts);
  const metricWidth = Math.max(0, ...measurements.map((m) => m.metric.length));
  for (const m of measurements) {
    out.push([
      seg(`  ${clock(m.finishedAt)}  `, "dim"),
      seg(padEndCols(m.metric, metricWidth)),
      seg("  "),
      seg(m.phase.padEnd(12), RUN_STYLE[m.phase]),
      seg(padEndCols(measurementValue(m), 10)),
      seg(m.message),
    ]);
  }
  return out;
}

/**
 * A measurement's value for the list: `e=` in front when it is the sequential judge's e-value
 * (evidence.eValue), `score=` for a scored template's score, so neither is read as the metric's
 * own value.
 */
export function measurementValue(m: {
  value: number | null;
  evidence: Record<string, unknown>;
}): string {
  const v = formatValue(m.value);
  if (m.value !== null && m.evidence.kind === "score") return `score=${v}`;
  return m.value !== null && m.evidence.eValue === m.value ? `e=${v}` : v;
}

/** A measured value, short: 4 significant digits, `–` for none. */
export function formatValue(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "–";
  if (v !== 0 && Math.abs(v) < 0.001) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/** A figure with a few decimals where they matter: 0.25, 3.20, 12.5, 240. */
export function formatNumber(v: number, decimals?: number): string {
  if (!Number.isFinite(v)) return "–";
  if (decimals !== undefined) return v.toFixed(decimals);
  const a = Math.abs(v);
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(a < 10 ? 2 : a < 100 ? 1 : 0);
}

/** HH:MM:SS in UTC, as the other verbs print times. */
function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}
