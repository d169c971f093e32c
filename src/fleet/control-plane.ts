/**
 * The fleet's part of a control-plane instance (`dataplane.engine: fleet`), built in one place
 * so `src/server.ts` only plugs it in: the board routers read (the store), the routes they
 * call, the traffic provider's dependencies, and the fleet's merged figures for the analysis
 * and the split check, fed from every router's stored report (whichever instance took it).
 *
 * @module
 */

import type { MetricProvider } from "../analysis/types.js";
import type { FleetApi } from "../api/fleet-routes.js";
import { type FleetReports, isFinal } from "../providers/traffic/fleet/index.js";
import type { Spec } from "../spec/schema.js";
import type { RouterReport, Store } from "../store/store.js";
import type { Clock } from "../util/clock.js";
import { parseDuration } from "../util/duration.js";
import type { Logger } from "../util/log.js";
import { type FleetBoard, StoreFleetBoard } from "./board.js";
import { FleetMetrics } from "./fleet-metrics.js";
import { FleetMetricProvider } from "./metric-provider.js";

export interface FleetControlPlane {
  /** For `createAdminServer`: the fleet routes. */
  api: FleetApi;
  /** For `createTrafficProvider`. */
  traffic: { board: FleetBoard; reports: FleetReports };
  /** For `createMetricProvider`: `builtin` over the whole fleet. */
  metricDeps: {
    builtin: (config: { signal: import("../spec/analysis.js").BuiltinSignal }) => MetricProvider;
  };
  /** The controller's split check, over the fleet's counts. */
  split(service: string, version: string, from: number, to: number): number;
  metrics: FleetMetrics;
  close(): void;
}

/** How often the stored reports are read even without a wake-up. */
const FEED_POLL_MS = 2_000;

export function startFleetControlPlane(opts: {
  spec: Spec;
  store: Store;
  clock: Clock;
  log: Logger;
}): FleetControlPlane | undefined {
  if (opts.spec.dataplane.engine !== "fleet") return undefined;
  const { store, clock, log } = opts;
  const board = new StoreFleetBoard(store, opts.spec);
  const metrics = new FleetMetrics({
    windowMs: parseDuration(opts.spec.metrics.window) as number,
    clock,
  });
  // Reports posted to other instances reach this one through the store: read on a wake-up,
  // and every 2 s anyway.
  let reading = false;
  const stale = new Set<string>();
  const feed = async () => {
    if (reading) return;
    reading = true;
    try {
      const reports = await store.routerReports();
      for (const report of reports) {
        const problem = metrics.ingest(report);
        if (problem !== undefined) log.warn({ problem }, "a router's stored report was not used");
      }
      noteStale(reports, stale, clock.now(), log);
    } catch (err) {
      log.warn({ err: String(err) }, "cannot read the routers' reports");
    } finally {
      reading = false;
    }
  };
  const off = store.onChange((what) => {
    if (what === "reports") void feed();
  });
  const poll = setInterval(() => void feed(), FEED_POLL_MS);
  poll.unref();
  void feed();
  return {
    api: { board, reports: store, clock, metrics },
    traffic: { board, reports: store },
    metricDeps: { builtin: (config) => new FleetMetricProvider(config, { metrics, clock }) },
    split: (service, version, from, to) => metrics.query({ service, version, from, to }).requests,
    metrics,
    close() {
      off();
      clearInterval(poll);
      board.close();
    },
  };
}

/**
 * Says when a router goes stale (no report for three of its intervals) and when it is back:
 * the warning is the operator's cue, since the analysis is inconclusive meanwhile.
 */
function noteStale(reports: readonly RouterReport[], stale: Set<string>, now: number, log: Logger) {
  const seen = new Set<string>();
  for (const r of reports) {
    seen.add(r.router);
    const w = r.windows as { intervalMs?: unknown } | null;
    const interval = typeof w?.intervalMs === "number" ? w.intervalMs : 2_000;
    const isStale = !isFinal(r) && now - r.at > 3 * interval;
    if (isStale && !stale.has(r.router)) {
      stale.add(r.router);
      log.warn(
        {
          router: r.router,
          lastReportAgoS: Math.round((now - r.at) / 1000),
          forget: `DELETE /api/v1/fleet/routers/${r.router}`,
        },
        "fleet.router-stale: a router stopped reporting; analyses over its traffic are inconclusive until it reports again or is forgotten",
      );
    } else if (!isStale && stale.delete(r.router))
      log.info({ router: r.router }, "fleet.router-back: a stale router reports again");
  }
  for (const id of [...stale]) if (!seen.has(id)) stale.delete(id);
}
