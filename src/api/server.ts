/**
 * The admin server on the admin address (loopback by default): Prometheus `/metrics`, a
 * health probe, and the REST API under `/api/v1`, which needs the operator token.
 *
 * @module
 */

import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
} from "fastify";
import type { MetricsRegistry } from "../dataplane/metrics/registry.js";
import type { Controller } from "../rollout/controller.js";
import type { Actor } from "../rollout/types.js";
import type { ListenAddress } from "../util/address.js";
import type { Logger } from "../util/log.js";
import { VERSION } from "../version.js";
import type { TokenCheck } from "./auth.js";
import { errorHandler, sendProblem } from "./problem.js";
import { registerRolloutRoutes } from "./rollout-routes.js";

export interface AdminOptions {
  metrics: MetricsRegistry;
  controller: Controller;
  tokens: TokenCheck;
  log: Logger;
}

export function createAdminServer(opts: AdminOptions): FastifyInstance {
  const app = Fastify({
    // Requests are not logged one by one (warn and above only): the access log of an admin API
    // is noise, and its Authorization headers must never reach a log anyway.
    loggerInstance: opts.log.child({ component: "api" }, { level: "warn" }) as FastifyBaseLogger,
    bodyLimit: 1_048_576,
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) =>
    sendProblem(reply, {
      type: "about:blank",
      title: "Not found",
      status: 404,
      detail: `no route ${req.method} ${req.url}`,
      code: "AVIARY_NOT_FOUND",
    }),
  );

  app.get("/healthz", async () => ({ status: "ok", version: VERSION }));

  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", opts.metrics.contentType);
    return opts.metrics.metrics();
  });

  app.addHook("onRequest", async (req, reply) => {
    if (!req.url.startsWith("/api/")) return;
    if (!opts.tokens.allows(req.headers.authorization)) {
      return sendProblem(reply, {
        type: "about:blank",
        title: "Unauthorized",
        status: 401,
        detail: "this route needs an operator token: Authorization: Bearer <token>",
        code: "AVIARY_UNAUTHORIZED",
      });
    }
  });

  const actorOf = (_req: FastifyRequest): Actor => "operator:operator";
  registerRolloutRoutes(app, opts.controller, actorOf);
  return app;
}

export async function listenAdmin(
  app: FastifyInstance,
  address: ListenAddress,
): Promise<ListenAddress> {
  await app.listen({ host: address.host, port: address.port });
  const info = app.server.address();
  if (info === null || typeof info === "string") return address;
  return { host: info.address, port: info.port };
}
