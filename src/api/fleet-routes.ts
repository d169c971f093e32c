/**
 * The fleet's routes: what `aviary router` processes pull and post, on every control-plane
 * instance (routers never reach the database), and the operator's view of the fleet.
 *
 * - `GET /api/v1/fleet/state`: the state routers serve; a long poll with `If-None-Match` and
 *   `?wait=25s` answers 304 when nothing changed in that time, woken by store changes.
 * - `POST /api/v1/fleet/report`: a router's report (what it serves, its per-second windows),
 *   checked and bounded, stored for whichever instance leads. Bounded by the admin server's body limit (1 MiB)
 *   and the schema (series, seconds, key range).
 * - `GET /api/v1/fleet`: the routers, how long since each reported, what each serves, stale.
 * - `DELETE /api/v1/fleet/routers/:id`: forgets a router an operator retired.
 *
 * @module
 */

import { z } from "zod";
import { AviaryError } from "../errors.js";
import type { FleetBoard } from "../fleet/board.js";
import type { FleetMetrics } from "../fleet/fleet-metrics.js";
import { etagOf, type FleetState } from "../fleet/state.js";
import { ReportedWindowsSchema } from "../fleet/windows.js";
import { isFinal } from "../providers/traffic/fleet/index.js";
import { durationWithin } from "../spec/schema-parts.js";
import type { RouterReport, StoreTx } from "../store/store.js";
import type { Clock } from "../util/clock.js";
import { parseDuration } from "../util/duration.js";
import { type ApiRoute, route } from "./route-table.js";

export interface FleetApi {
  board: FleetBoard;
  reports: Pick<StoreTx, "putRouterReport" | "routerReports" | "deleteRouterReport">;
  clock: Clock;
  /** This instance's fleet figures, when it runs the analysis (fed at once with each report). */
  metrics?: FleetMetrics;
  /** The routers' report interval: stale after three of them (default 2 s). */
  reportIntervalMs?: number;
}

const RouterId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, "letters, digits, . _ : - (at most 128)");

const ReportBody = z.strictObject({
  router: RouterId,
  intervalMs: z.int().min(100).max(60_000),
  served: z
    .record(
      z.string().min(1).max(200),
      z.strictObject({
        revision: z.int().min(0),
        weight: z.number().min(0).max(100),
      }),
    )
    .refine((r) => Object.keys(r).length <= 10_000, "at most 10000 services"),
  windows: ReportedWindowsSchema,
});

const StateQuery = z.strictObject({
  wait: durationWithin("60s", "0s").optional(),
});

export function fleetRoutes(api: FleetApi): ApiRoute[] {
  return [
    route({
      method: "GET",
      url: "/api/v1/fleet/state",
      summary: "The fleet state routers serve",
      description:
        "Every service as the spec describes it (without its strategy), with its traffic and that traffic's revision, and the proxy settings. Send `If-None-Match` with the ETag you have and `?wait=25s`: the answer comes when the state changes, or as a 304 after the wait.",
      tags: ["fleet"],
      role: "router",
      query: StateQuery,
      response: { description: "The fleet state (`ETag` header), or 304 Not Modified." },
      handler: async ({ query, req, reply }) => {
        const waitMs = query.wait === undefined ? 0 : (parseDuration(query.wait) as number);
        const have = req.headers["if-none-match"];
        let state = await api.board.read();
        let etag = etagOf(state);
        if (have === etag && waitMs > 0) {
          ({ state, etag } = await waitForChange(api, etag, waitMs, req.raw));
        }
        reply.header("etag", etag);
        reply.header("cache-control", "no-store");
        if (have === etag) {
          reply.code(304);
          return reply.send();
        }
        return state;
      },
    }),
    route({
      method: "POST",
      url: "/api/v1/fleet/report",
      summary: "A router's report",
      description:
        "What one router serves (per service: the revision and weight) and its per-version seconds since its previous report, for the analysis to judge the whole fleet. Routers send one every 2 s.",
      tags: ["fleet"],
      role: "router",
      body: ReportBody,
      response: { description: "`{ at }`: when the control plane took it." },
      handler: async ({ body }) => {
        const report: RouterReport = {
          router: body.router,
          at: api.clock.now(),
          served: body.served,
          windows: { ...body.windows, intervalMs: body.intervalMs },
        };
        await api.reports.putRouterReport(report);
        const problem = api.metrics?.ingest(report);
        if (problem !== undefined)
          throw new AviaryError("AVIARY_BAD_REQUEST", `body.windows: ${problem}`);
        return { at: report.at };
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/fleet",
      summary: "The routers",
      description:
        "Every router that reported: how long ago, what it serves, and whether it is stale (no report for three of its intervals) or has left (a clean shutdown).",
      tags: ["fleet"],
      role: "read-only",
      response: {
        description:
          "`{ routers: [{ id, lastReportAgeMs, stale, left, serves: { service: { revision, weight } } }], desired: { specRevision, services: { service: revision } } }`",
      },
      handler: async () => {
        const [reports, state] = await Promise.all([api.reports.routerReports(), api.board.read()]);
        const now = api.clock.now();
        return {
          routers: reports
            .sort((a, b) => a.router.localeCompare(b.router))
            .map((r) => routerView(r, now, api.reportIntervalMs ?? 2_000)),
          desired: desiredView(state),
        };
      },
    }),
    route({
      method: "DELETE",
      url: "/api/v1/fleet/routers/:id",
      summary: "Forget a router",
      description:
        "For a router taken out of service without a clean shutdown: until it is forgotten, the analysis counts its missing reports as unknown traffic (inconclusive).",
      tags: ["fleet"],
      role: "operator",
      params: z.strictObject({ id: RouterId }),
      response: { description: "`{ forgotten: id }`" },
      handler: async ({ params }) => {
        const known = (await api.reports.routerReports()).some((r) => r.router === params.id);
        if (!known)
          throw new AviaryError("AVIARY_NOT_FOUND", `no router ${params.id} has reported`);
        await api.reports.deleteRouterReport(params.id);
        api.metrics?.retire(params.id);
        return { forgotten: params.id };
      },
    }),
  ];
}

function routerView(r: RouterReport, now: number, defaultInterval: number) {
  const w = r.windows as { intervalMs?: unknown } | null;
  const intervalMs = typeof w?.intervalMs === "number" ? w.intervalMs : defaultInterval;
  const age = now - r.at;
  return {
    id: r.router,
    lastReportAt: new Date(r.at).toISOString(),
    lastReportAgeMs: age,
    intervalMs,
    stale: !isFinal(r) && age > 3 * intervalMs,
    left: isFinal(r),
    serves: r.served,
  };
}

function desiredView(state: FleetState) {
  return {
    specRevision: state.specRevision,
    services: Object.fromEntries(state.services.map((s) => [s.spec.name, s.revision])),
  };
}

/**
 * Waits until the state's ETag differs from `etag`, the wait is over, or the client left. Woken
 * by the board; read again every 2 s too, so a missed wake-up costs at most that.
 */
async function waitForChange(
  api: FleetApi,
  etag: string,
  waitMs: number,
  req: import("node:http").IncomingMessage,
): Promise<{ state: FleetState; etag: string }> {
  const deadline = Date.now() + waitMs;
  let state = await api.board.read();
  let now = etagOf(state);
  while (now === etag && Date.now() < deadline && !req.destroyed) {
    await new Promise<void>((resolve) => {
      const left = Math.min(2_000, deadline - Date.now());
      const timer = setTimeout(done, Math.max(0, left));
      const off = api.board.onChange(done);
      req.once("close", done);
      function done() {
        clearTimeout(timer);
        off();
        req.off("close", done);
        resolve();
      }
    });
    state = await api.board.read();
    now = etagOf(state);
  }
  return { state, etag: now };
}
