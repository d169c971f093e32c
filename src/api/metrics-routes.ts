/**
 * Per-version metrics of a service for charts (the CLI's `get --watch`, the dashboard): the
 * current stable and canary, each summarized over a window and as a series of step-long
 * sub-windows, read from the data plane's windows (this process's registry, or the fleet's
 * routers' figures merged, with `dataplane.engine: fleet`). Figures without requests
 * (an error rate, a latency) are null, never a silent 0.
 *
 * @module
 */

import { z } from "zod";
import type { ControlReads } from "../cluster/reads.js";
import type { WindowQuery, WindowSummary } from "../dataplane/metrics/registry.js";
import type { TrafficState } from "../rollout/types.js";
import type { Clock } from "../util/clock.js";
import { formatDuration, parseDuration } from "../util/duration.js";
import { ServiceParams } from "./rollout-routes.js";
import { type ApiRoute, route } from "./route-table.js";

/** Most points a series may have: enough for a chart, bounded work per request. */
export const MAX_POINTS = 600;

export interface MetricsSummary {
  requests: number;
  errors: number;
  errorRate: number | null;
  rps: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

/**
 * Where the per-version windows come from: the process's own registry when it routes the
 * traffic (embedded, or an engine's access log), the fleet's merged reports when routers do.
 */
export interface WindowSource {
  query(q: WindowQuery): WindowSummary;
}

export interface MetricsPoint {
  /** Start of the sub-window, epoch ms. */
  t: number;
  requests: number;
  errors: number;
  errorRate: number | null;
  rps: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface VersionMetrics {
  version: string;
  role: "stable" | "canary";
  summary: MetricsSummary;
  series: MetricsPoint[];
}

export interface ServiceMetrics {
  service: string;
  /** The window, epoch ms [from, to); `to` is the end of the second in progress. */
  from: number;
  to: number;
  /** Length of each point's sub-window, ms. */
  step: number;
  versions: VersionMetrics[];
}

/**
 * The service's current stable and canary over the window ending with the second in progress,
 * one registry query per step. Each version counts its traffic in any live role, so a version
 * keeps its history across a promotion.
 */
export function serviceMetrics(
  registry: WindowSource,
  service: string,
  traffic: TrafficState,
  now: number,
  windowMs: number,
  stepMs: number,
): ServiceMetrics {
  const to = Math.floor(now / 1000) * 1000 + 1000;
  const from = to - windowMs;
  const arms: Array<{ version: string; role: "stable" | "canary" }> = [
    { version: traffic.stable.version, role: "stable" },
  ];
  if (traffic.canary !== null) arms.push({ version: traffic.canary.version, role: "canary" });
  const versions = arms.map(({ version, role }): VersionMetrics => {
    const series: MetricsPoint[] = [];
    for (let t = from; t < to; t += stepMs) {
      const w = registry.query({ service, version, from: t, to: t + stepMs });
      series.push({
        t,
        requests: w.requests,
        errors: w.errors,
        errorRate: finite(w.errorRate),
        rps: finite(w.rps),
        p50Ms: finite(w.latencyMs.p50),
        p99Ms: finite(w.latencyMs.p99),
      });
    }
    return {
      version,
      role,
      summary: summaryOf(registry.query({ service, version, from, to })),
      series,
    };
  });
  return { service, from, to, step: stepMs, versions };
}

function summaryOf(w: WindowSummary): MetricsSummary {
  return {
    requests: w.requests,
    errors: w.errors,
    errorRate: finite(w.errorRate),
    rps: finite(w.rps),
    p50Ms: finite(w.latencyMs.p50),
    p95Ms: finite(w.latencyMs.p95),
    p99Ms: finite(w.latencyMs.p99),
  };
}

function finite(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** A duration in the query (`5m`, `10s`), as ms. */
function durationParam(fallback: string, description: string) {
  return z
    .string()
    .default(fallback)
    .meta({ description })
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: "custom", message: "expected a duration such as 10s, 5m or 1h" });
        return z.NEVER;
      }
      return ms;
    });
}

/** The query, checked against what the registry holds and the points limit. */
export function metricsQuery(maxWindowMs: number) {
  return z
    .strictObject({
      window: durationParam(
        "5m",
        `How far back, in whole seconds, at most the metrics window (${formatDuration(maxWindowMs)} here).`,
      ),
      step: durationParam(
        "10s",
        `Length of each point, whole seconds, at least 1s; at most ${MAX_POINTS} points.`,
      ),
    })
    .superRefine((q, ctx) => {
      const issue = (field: "window" | "step", message: string) =>
        ctx.addIssue({ code: "custom", path: [field], message });
      if (q.window % 1000 !== 0) issue("window", "must be a whole number of seconds");
      else if (q.window > maxWindowMs)
        issue(
          "window",
          `must be at most ${formatDuration(maxWindowMs)}, the metrics window Aviary keeps (metrics.window in the spec)`,
        );
      if (q.step < 1000 || q.step % 1000 !== 0)
        issue("step", "must be a whole number of seconds, at least 1s");
      else if (q.window % q.step !== 0)
        issue("step", `must divide the window (${formatDuration(q.window)}) evenly`);
      else if (q.window / q.step > MAX_POINTS)
        issue(
          "step",
          `gives ${q.window / q.step} points; at most ${MAX_POINTS}: use a step of at least ${formatDuration(Math.ceil(q.window / MAX_POINTS / 1000) * 1000)}`,
        );
    });
}

export function metricsRoutes(
  controller: ControlReads,
  registry: WindowSource,
  maxWindowMs: number,
  clock: Clock,
): ApiRoute[] {
  return [
    route({
      method: "GET",
      url: "/api/v1/services/:name/metrics",
      summary: "Per-version metrics",
      description:
        "Requests, errors, rate and latency of the service's current stable and canary over a window, as a summary and as a series of step-long points (the last one includes the second in progress). Figures without requests are null.",
      tags: ["services", "metrics"],
      role: "read-only",
      params: ServiceParams,
      query: metricsQuery(maxWindowMs),
      response: {
        description:
          "`{ service, from, to, step, versions: [{ version, role, summary: { requests, errors, errorRate, rps, p50Ms, p95Ms, p99Ms }, series: [{ t, requests, errors, errorRate, rps, p50Ms, p99Ms }] }] }`; times in epoch ms, step in ms.",
      },
      handler: async ({ params, query }) => {
        const state = await controller.service(params.name);
        return serviceMetrics(
          registry,
          state.name,
          state.traffic,
          clock.now(),
          query.window,
          query.step,
        );
      },
    }),
  ];
}
