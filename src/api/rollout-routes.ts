/**
 * The rollout resources and commands of the admin API. Every body is validated against the
 * same schemas as the spec; every command names its actor as the authenticated operator.
 *
 * @module
 */

import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { AviaryError } from "../errors.js";
import type { Controller } from "../rollout/controller.js";
import type { Actor } from "../rollout/types.js";
import { formatPath, parseSpec } from "../spec/load.js";
import { Version } from "../spec/schema.js";

const Deploy = z.strictObject({ version: Version.shape.version, targets: Version.shape.targets });
const Promote = z.strictObject({ full: z.boolean().default(false) }).prefault({});
const Abort = z.strictObject({ reason: z.string().max(500).optional() }).prefault({});
const Empty = z.strictObject({}).prefault({});
const Apply = z.strictObject({
  spec: z.string().max(1_000_000),
  file: z.string().max(500).optional(),
  dryRun: z.boolean().default(false),
});
const History = z.strictObject({
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1_000),
});

function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const detail = result.error.issues
    .map(
      (i) =>
        `${where}${i.path.length ? `.${formatPath(i.path as PropertyKey[])}` : ""}: ${i.message}`,
    )
    .join("; ");
  throw new AviaryError("AVIARY_BAD_REQUEST", detail);
}

export function registerRolloutRoutes(
  app: FastifyInstance,
  controller: Controller,
  actorOf: (req: FastifyRequest) => Actor,
): void {
  const view = (name: string) => ({
    ...controller.service(name),
    rollout: controller.rollout(name) ?? null,
  });

  app.get("/api/v1/services", async () => ({
    services: controller.services().map((s) => view(s.name)),
  }));

  app.get<{ Params: { name: string } }>("/api/v1/services/:name", async (req) =>
    view(req.params.name),
  );

  app.get<{ Params: { name: string } }>("/api/v1/services/:name/history", async (req) => {
    const q = parse(History, req.query, "query");
    return {
      events: controller.history(req.params.name, {
        ...(q.after !== undefined ? { afterSeq: q.after } : {}),
        limit: q.limit,
      }),
    };
  });

  app.get<{ Params: { name: string } }>("/api/v1/services/:name/analysis", async (req) => {
    controller.service(req.params.name);
    return { runs: controller.analysis(req.params.name) };
  });

  app.post<{ Params: { name: string } }>("/api/v1/services/:name/deploy", async (req, reply) => {
    const body = parse(Deploy, req.body, "body");
    const rollout = await controller.deploy(req.params.name, body, actorOf(req));
    return reply.code(201).send({ rollout });
  });

  app.post<{ Params: { name: string } }>("/api/v1/services/:name/promote", async (req) => {
    const body = parse(Promote, req.body, "body");
    return { rollout: await controller.promote(req.params.name, body.full, actorOf(req)) };
  });

  app.post<{ Params: { name: string } }>("/api/v1/services/:name/abort", async (req) => {
    const body = parse(Abort, req.body, "body");
    return { rollout: await controller.abort(req.params.name, actorOf(req), body.reason) };
  });

  for (const verb of ["pause", "resume", "retry"] as const) {
    app.post<{ Params: { name: string } }>(`/api/v1/services/:name/${verb}`, async (req) => {
      parse(Empty, req.body, "body");
      return { rollout: await controller[verb](req.params.name, actorOf(req)) };
    });
  }

  app.post<{ Params: { name: string } }>("/api/v1/services/:name/undo", async (req) => {
    parse(Empty, req.body, "body");
    return { service: await controller.undo(req.params.name, actorOf(req)) };
  });

  app.post("/api/v1/apply", async (req) => {
    const body = parse(Apply, req.body, "body");
    const spec = parseSpec(body.spec, body.file ?? "<request>");
    const changes = await controller.applySpec(spec.services, actorOf(req), {
      templates: spec.analysisTemplates,
      dryRun: body.dryRun,
    });
    return { dryRun: body.dryRun, changes };
  });
}
