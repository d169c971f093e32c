/**
 * The admin API's reads of what happened: a service's past rollouts, one rollout with its
 * analyses, and the history of every service as one sequence (what the event stream replays
 * from). They read the store directly: nothing here goes through a service's command queue.
 *
 * @module
 */

import { z } from "zod";
import type { ControlReads } from "../cluster/reads.js";
import { AviaryError } from "../errors.js";
import type { HealthReporting } from "../store/health.js";
import type { Store } from "../store/store.js";
import { type ApiRoute, route } from "./route-table.js";
import { presentRollout } from "./traffic-status.js";

/** What the API reads from the store. */
export type ApiStore = Pick<
  Store,
  "rolloutsOf" | "getRollout" | "eventsAfter" | "eventsOf" | "analysisRunsOf" | "measurementsOf"
> &
  // For /healthz: a store that reports its health (the SQLite one does).
  Partial<HealthReporting>;

const Rollouts = z.strictObject({
  service: z.string().min(1).max(200).meta({ description: "The service whose rollouts to list." }),
  limit: z.coerce.number().int().min(1).max(1_000).default(50),
});
const RolloutParams = z.strictObject({
  id: z.string().min(1).max(100).meta({ description: "The rollout's id." }),
});
const Events = z.strictObject({
  after: z.coerce
    .number()
    .int()
    .min(0)
    .default(0)
    .meta({ description: "Only events with a greater seq: the last seq you have." }),
  limit: z.coerce.number().int().min(1).max(10_000).default(1_000),
  service: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .meta({ description: "Only this service's events." }),
});

const HISTORY = ["history"];

export function historyRoutes(controller: ControlReads, store: ApiStore): ApiRoute[] {
  return [
    route({
      method: "GET",
      url: "/api/v1/rollouts",
      summary: "A service's rollouts",
      description: "The service's rollouts, newest first, finished or not.",
      tags: HISTORY,
      role: "read-only",
      query: Rollouts,
      response: { description: "`{ rollouts: [Rollout] }`, newest first." },
      handler: async ({ query }) => {
        await controller.service(query.service);
        return { rollouts: await store.rolloutsOf(query.service, query.limit) };
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/rollouts/:id",
      summary: "Get a rollout",
      description: "One rollout, current or past, with its analysis runs and their measurements.",
      tags: HISTORY,
      role: "read-only",
      params: RolloutParams,
      response: { description: "`{ rollout, analysis: [run with measurements] }`" },
      handler: async ({ params }) => {
        const rollout = await store.getRollout(params.id);
        if (rollout === undefined)
          throw new AviaryError("AVIARY_NO_ROLLOUT", `no rollout with id ${params.id}`);
        const runs = await store.analysisRunsOf(rollout.id);
        const analysis = await Promise.all(
          runs.map(async (run) => ({ ...run, measurements: await store.measurementsOf(run.id) })),
        );
        return { rollout: await presentRollout(controller, rollout), analysis };
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/events",
      summary: "History of every service",
      description:
        "Every service's history as one sequence, oldest first; page with `after` set to the last seq received.",
      tags: HISTORY,
      role: "read-only",
      query: Events,
      response: { description: "`{ events: [RolloutEvent] }`, oldest first." },
      handler: async ({ query }) => {
        if (query.service === undefined)
          return { events: await store.eventsAfter(query.after, query.limit) };
        await controller.service(query.service);
        return {
          events: await store.eventsOf(query.service, {
            afterSeq: query.after,
            limit: query.limit,
          }),
        };
      },
    }),
  ];
}
