/**
 * Chart data: the metrics endpoint's per-version series shaped into uPlot's aligned columns
 * (x in seconds, one column per line, null where a sub-window had no requests, so a line
 * breaks instead of diving to 0), and the canary weight over time as a step line built from
 * the rollout's history.
 *
 * @module
 */

import type { MetricsPoint, Rollout, RolloutEvent, ServiceMetrics } from "./api.js";

export type MetricChart = "errors" | "latency" | "rate";

export interface ChartLine {
  label: string;
  role: "stable" | "canary";
  /** For latency: which percentile (drawn thinner for p50). */
  stat: "p50" | "p99" | null;
  values: Array<number | null>;
}

export interface ChartData {
  /** Epoch seconds (uPlot's time scale). */
  x: number[];
  lines: ChartLine[];
}

const PICK: Record<
  MetricChart,
  Array<{ stat: "p50" | "p99" | null; get(p: MetricsPoint): number | null }>
> = {
  errors: [{ stat: null, get: (p) => (p.errorRate === null ? null : p.errorRate * 100) }],
  latency: [
    { stat: "p50", get: (p) => p.p50Ms },
    { stat: "p99", get: (p) => p.p99Ms },
  ],
  rate: [{ stat: null, get: (p) => p.rps }],
};

/** One chart's lines: stable first, then canary; for latency p50 and p99 of each. */
export function metricChart(m: ServiceMetrics, chart: MetricChart): ChartData {
  const times = new Set<number>();
  for (const v of m.versions) for (const p of v.series) times.add(p.t);
  const ts = [...times].sort((a, b) => a - b);
  const index = new Map(ts.map((t, i) => [t, i]));
  const ordered = [...m.versions].sort((a, b) =>
    a.role === b.role ? 0 : a.role === "stable" ? -1 : 1,
  );
  const lines: ChartLine[] = [];
  for (const v of ordered) {
    for (const pick of PICK[chart]) {
      const values: Array<number | null> = ts.map(() => null);
      for (const p of v.series) {
        const x = pick.get(p);
        values[index.get(p.t) as number] = x !== null && Number.isFinite(x) ? x : null;
      }
      lines.push({
        label: `${v.role} ${v.version}${pick.stat ? ` ${pick.stat}` : ""}`,
        role: v.role,
        stat: pick.stat,
        values,
      });
    }
  }
  return { x: ts.map((t) => t / 1000), lines };
}

/**
 * The canary's weight over the rollout, from its events' `weight`: 0 when it started, each
 * change where it happened, held until `now`; a finished rollout's line runs on a little past
 * its end (a tenth of its length, at most until `now`), so its last change is visible.
 */
export function weightChart(history: readonly RolloutEvent[], r: Rollout, now: number): ChartData {
  const points = new Map<number, number>();
  points.set(r.createdAt, 0);
  for (const e of history) {
    if (e.rolloutId !== r.id || e.weight === null || e.at < r.createdAt) continue;
    points.set(e.at, e.weight);
  }
  const sorted = [...points.entries()].sort((a, b) => a[0] - b[0]);
  const [lastAt, lastWeight] = sorted.at(-1) as [number, number];
  const end =
    r.finishedAt === null
      ? now
      : Math.min(now, r.finishedAt + Math.max(1_000, (r.finishedAt - r.createdAt) / 10));
  if (end > lastAt) sorted.push([end, r.finishedAt === null ? r.traffic.weight : lastWeight]);
  return {
    x: sorted.map(([t]) => t / 1000),
    lines: [
      {
        label: `canary ${r.canary.version} weight`,
        role: "canary",
        stat: null,
        values: sorted.map(([, w]) => w),
      },
    ],
  };
}

/** uPlot's data layout: `[x, line1, line2, ...]`. */
export function aligned(c: ChartData): Array<Array<number | null>> {
  return [c.x, ...c.lines.map((l) => l.values)];
}

/** True when no line has a single value (the chart shows a "no data" note instead). */
export function isEmpty(c: ChartData): boolean {
  return c.lines.every((l) => l.values.every((v) => v === null));
}
