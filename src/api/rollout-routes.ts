/**
 * The service and rollout resources and commands of the admin API, as route-table entries.
 * Every body is validated against the same schemas as the spec; every command names its actor
 * as the authenticated caller (`operator:<token name>`).
 *
 * Commands go through the {@link CommandBus}: on the leader they run through its controller
 * ({@link commandExecutor}); on a follower they are stored for the leader, and the caller gets
 * the leader's answer, or after 10 s a 202 with the command to follow (`GET /api/v1/commands/:id`).
 *
 * @module
 */

import type { FastifyReply } from "fastify";
import { z } from "zod";
import type {
  CommandBus,
  CommandRequest,
  CommittedAnswer,
  Execute,
  Submitted,
} from "../cluster/commands.js";
import type { ControlReads } from "../cluster/reads.js";
import { AviaryError } from "../errors.js";
import type { Controller } from "../rollout/controller.js";
import type { Actor, Rollout } from "../rollout/types.js";
import { parseSpec } from "../spec/load.js";
import { Version } from "../spec/schema.js";
import { type ApiRoute, route } from "./route-table.js";
import { presentRollout } from "./traffic-status.js";

/** A path segment naming a service (an unknown one is a 404, not a 400). */
export const ServiceParams = z.strictObject({
  name: z.string().min(1).max(200).meta({ description: "The service's name." }),
});

const GateParams = ServiceParams.extend({
  gate: z.string().min(1).max(200).meta({ description: "The gate's name in the strategy." }),
});

const Deploy = z.strictObject({ version: Version.shape.version, targets: Version.shape.targets });
const Promote = z
  .strictObject({
    full: z
      .boolean()
      .default(false)
      .meta({ description: "Skip every remaining step and promote now." }),
  })
  .prefault({});
const Abort = z
  .strictObject({
    reason: z.string().max(500).optional().meta({ description: "Why, for the history." }),
  })
  .prefault({});
const Empty = z.strictObject({}).prefault({});
const Apply = z.strictObject({
  spec: z.string().max(1_000_000).meta({ description: "The spec, as YAML text." }),
  file: z.string().max(500).optional().meta({ description: "A file name for error positions." }),
  dryRun: z.boolean().default(false).meta({ description: "Only say what would change." }),
});
const History = z.strictObject({
  after: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .meta({ description: "Only events with a greater seq (for paging)." }),
  limit: z.coerce.number().int().min(1).max(10_000).default(1_000),
});

const CommandParams = z.strictObject({
  id: z.string().min(1).max(200).meta({ description: "The command's id (from a 202 answer)." }),
});
/** An apply as stored: a SIGHUP reload on a follower also names its file as the source. */
const ApplyCommand = Apply.extend({ source: z.string().max(500).optional() });

const SERVICES = ["services"];
const COMMANDS = ["commands"];

/**
 * Carries out commands through the leader's controller: the body each route answers with. The
 * arguments are checked again here, since a stored command comes from the database.
 */
export function commandExecutor(controller: Controller): Execute {
  const shown = async (r: Rollout) => ({ rollout: await presentRollout(controller, r) });
  return async (c: CommandRequest) => {
    const name = c.service ?? "";
    const actor = c.actor as Actor;
    // A stored command's transaction marks it committed (see cluster/commands.ts).
    const opts = c.id === undefined ? {} : { command: c.id };
    switch (c.kind) {
      case "deploy":
        return shown(await controller.deploy(name, Deploy.parse(c.args), actor, opts));
      case "promote":
        return shown(await controller.promote(name, Promote.parse(c.args).full, actor, opts));
      case "abort":
        return shown(await controller.abort(name, actor, Abort.parse(c.args).reason, opts));
      case "pause":
      case "resume":
      case "retry":
        return shown(await controller[c.kind](name, actor, opts));
      case "gate":
        return shown(await controller.openGate(name, String(c.args.gate), actor, opts));
      case "undo":
        return { service: await controller.undo(name, actor, opts) };
      case "apply": {
        const body = ApplyCommand.parse(c.args);
        const spec = parseSpec(body.spec, body.file ?? "<request>");
        const changes = await controller.applySpec(spec.services, actor, {
          templates: spec.analysisTemplates,
          flags: spec.flags,
          dryRun: body.dryRun,
          source: body.source ?? "api",
          ...opts,
        });
        return { dryRun: body.dryRun, changes };
      }
    }
  };
}

/** What a stored command's commit recorded for its answer (see the controller's marks). */
const Committed = z.looseObject({
  rollout: z.string().optional(),
  service: z.unknown().optional(),
  changes: z.array(z.unknown()).optional(),
});

/**
 * The body a route answers for a stored command a previous leader committed but did not finish:
 * the same shape {@link commandExecutor} gives. A rollout command answers its rollout as the
 * store holds it now (as the route does after the drive that follows the command); undo and
 * apply answer what their transaction recorded (the service written, the spec's changes).
 */
export function committedAnswer(controller: Controller): CommittedAnswer {
  return async (c, committed) => {
    const data = Committed.parse(committed.data);
    switch (c.kind) {
      case "undo":
        return { service: data.service };
      case "apply":
        return { dryRun: false, changes: data.changes ?? [] };
      default: {
        const rollout = data.rollout && (await controller.rolloutById(data.rollout));
        if (!rollout)
          throw new AviaryError(
            "AVIARY_INTERNAL",
            `command ${c.id}: committed for rollout ${data.rollout ?? "(none named)"}, which the store does not hold`,
          );
        return { rollout: await presentRollout(controller, rollout) };
      }
    }
  };
}

/** The leader's answer as is, or 202 with the command to follow when it took too long. */
function answer(reply: FastifyReply, submitted: Submitted): unknown {
  if (submitted.done) return submitted.result;
  const href = `/api/v1/commands/${submitted.id}`;
  return reply
    .code(202)
    .header("location", href)
    .send({
      command: submitted.id,
      status: "pending",
      detail: `stored for the leader, which has not carried it out yet; follow it at ${href}`,
      href,
    });
}

export function rolloutRoutes(controller: ControlReads, commands: CommandBus): ApiRoute[] {
  const shown = (r: Rollout) => presentRollout(controller, r);
  const run = (reply: FastifyReply, c: CommandRequest) =>
    commands.submit(c).then((s) => answer(reply, s));
  const view = async (name: string) => {
    const service = await controller.service(name);
    const rollout = await controller.rollout(name);
    return {
      ...service,
      dataplane: (await controller.trafficStatus(name)) ?? null,
      rollout: rollout === undefined ? null : await shown(rollout),
    };
  };
  const verb = (
    name: "pause" | "resume" | "retry",
    summary: string,
    description: string,
  ): ApiRoute =>
    route({
      method: "POST",
      url: `/api/v1/services/:name/${name}`,
      summary,
      description,
      tags: COMMANDS,
      role: "operator",
      params: ServiceParams,
      body: Empty,
      response: { description: "The rollout after the command: `{ rollout }`." },
      handler: ({ params, actor, reply }) =>
        run(reply, { kind: name, service: params.name, args: {}, actor: actor() }),
    });

  return [
    route({
      method: "GET",
      url: "/api/v1/services",
      summary: "List services",
      description:
        "Every service in the applied spec with its traffic state and current (or last) rollout. A service removed from the spec is not listed; its history still answers.",
      tags: SERVICES,
      role: "read-only",
      response: { description: "`{ services: [service view] }`" },
      handler: async () => ({
        services: await Promise.all((await controller.services()).map((s) => view(s.name))),
      }),
    }),
    route({
      method: "GET",
      url: "/api/v1/services/:name",
      summary: "Get a service",
      description:
        "The service's traffic state, previous stable version and current rollout, and `dataplane`: whether the engine serves the recorded traffic (`engine`, `applied`, `why`, `since`, `attempts`), as the leader's convergence loop says. The leader answers it live (`recordedAt: null`); a follower answers what the leader last recorded, with `recordedAt` (ms) and `recordedBy` (the leader instance); null before any leader recorded one.",
      tags: SERVICES,
      role: "read-only",
      params: ServiceParams,
      response: { description: "The service view: its state plus `rollout` (or null)." },
      handler: ({ params }) => view(params.name),
    }),
    route({
      method: "GET",
      url: "/api/v1/services/:name/history",
      summary: "A service's history",
      description:
        "Every transition of the service's rollouts, oldest first; still answers after the service was removed from the spec (its last event is `service.removed`).",
      tags: SERVICES,
      role: "read-only",
      params: ServiceParams,
      query: History,
      response: { description: "`{ events: [RolloutEvent] }`, oldest first." },
      handler: async ({ params, query }) => ({
        events: await controller.history(params.name, {
          ...(query.after !== undefined ? { afterSeq: query.after } : {}),
          limit: query.limit,
        }),
      }),
    }),
    route({
      method: "GET",
      url: "/api/v1/services/:name/analysis",
      summary: "The current rollout's analyses",
      description: "The analysis runs of the service's current rollout, with every measurement.",
      tags: SERVICES,
      role: "read-only",
      params: ServiceParams,
      response: { description: "`{ runs: [run with measurements] }`, oldest first." },
      handler: async ({ params }) => {
        await controller.service(params.name);
        return { runs: await controller.analysis(params.name) };
      },
    }),
    route({
      method: "POST",
      url: "/api/v1/services/:name/deploy",
      summary: "Deploy a canary",
      description: "Starts a rollout of a new canary version; supersedes an active rollout.",
      tags: COMMANDS,
      role: "operator",
      params: ServiceParams,
      body: Deploy,
      response: { status: 201, description: "The rollout started: `{ rollout }`." },
      handler: ({ params, body, actor, reply }) =>
        run(reply, { kind: "deploy", service: params.name, args: body, actor: actor() }),
    }),
    route({
      method: "POST",
      url: "/api/v1/services/:name/promote",
      summary: "Promote",
      description:
        "Finishes the current step (a manual pause, the promotion gate); `full` promotes at once.",
      tags: COMMANDS,
      role: "operator",
      params: ServiceParams,
      body: Promote,
      response: { description: "The rollout after the command: `{ rollout }`." },
      handler: ({ params, body, actor, reply }) =>
        run(reply, { kind: "promote", service: params.name, args: body, actor: actor() }),
    }),
    route({
      method: "POST",
      url: "/api/v1/services/:name/abort",
      summary: "Abort",
      description: "Rolls back: the canary gets 0 % at once. Idempotent.",
      tags: COMMANDS,
      role: "operator",
      params: ServiceParams,
      body: Abort,
      response: { description: "The rollout after the command: `{ rollout }`." },
      handler: ({ params, body, actor, reply }) =>
        run(reply, { kind: "abort", service: params.name, args: body, actor: actor() }),
    }),
    verb("pause", "Pause", "Holds the rollout where it is; timed pauses stop counting."),
    verb("resume", "Resume", "Continues after a pause; the paused time counts against nothing."),
    verb("retry", "Retry", "Starts an aborted rollout's canary again from step 0."),
    route({
      method: "POST",
      url: "/api/v1/services/:name/undo",
      summary: "Undo a promotion",
      description: "Puts the previous stable version back, at once.",
      tags: COMMANDS,
      role: "operator",
      params: ServiceParams,
      body: Empty,
      response: { description: "The service's state afterwards: `{ service }`." },
      handler: ({ params, actor, reply }) =>
        run(reply, { kind: "undo", service: params.name, args: {}, actor: actor() }),
    }),
    route({
      method: "POST",
      url: "/api/v1/services/:name/gates/:gate/open",
      summary: "Open a gate",
      description:
        "Opens a gate the rollout waits at (confirm-rollout, pre-rollout, confirm-traffic-increase, confirm-promotion), as an approval from a person or a pipeline; opening a rollback gate rolls the rollout back. A 409 says where the rollout waits instead.",
      tags: COMMANDS,
      role: "operator",
      params: GateParams,
      body: Empty,
      response: { description: "The rollout after the command: `{ rollout }`." },
      handler: ({ params, actor, reply }) =>
        run(reply, {
          kind: "gate",
          service: params.name,
          args: { gate: params.gate },
          actor: actor(),
        }),
    }),
    route({
      method: "POST",
      url: "/api/v1/apply",
      summary: "Apply a spec",
      description:
        "Brings the services in line with a spec (a new canary starts a rollout; a service the spec leaves out is removed: its rollout aborted, its routes gone, its history kept); with dryRun, only lists the changes. All or nothing: an invalid spec is a 400 listing every problem with file:line:column, and a refused spec changes nothing.",
      tags: COMMANDS,
      role: "operator",
      body: Apply,
      response: { description: "`{ dryRun, changes: [SpecChange] }`" },
      handler: ({ body, actor, reply }) => {
        // Refused here at once when it does not parse: the leader would answer the same 400.
        parseSpec(body.spec, body.file ?? "<request>");
        return run(reply, { kind: "apply", service: null, args: body, actor: actor() });
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/commands/:id",
      summary: "A stored command",
      description:
        "A command a follower stored for the leader (a command answered 202 names it): what was asked, by whom, and once the leader carried it out, `outcome`: `{ ok: true, result }` (the body the command answers with) or `{ ok: false, error: { code, status, message } }`; `committed` (`{ at, data }`, or null) is set in the transaction that carried it out, so a new leader never carries it out twice.",
      tags: COMMANDS,
      role: "read-only",
      params: CommandParams,
      response: { description: "The command record; `outcome` null while pending." },
      handler: async ({ params }) => {
        const record = await commands.get(params.id);
        if (record === undefined)
          throw new AviaryError("AVIARY_NOT_FOUND", `no command with id ${params.id}`);
        return record;
      },
    }),
  ];
}
