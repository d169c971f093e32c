/**
 * The admin server on the admin address (loopback by default): Prometheus `/metrics`, a
 * health probe, and read-only views of what the router serves. State-changing routes and
 * authentication arrive with the REST API.
 *
 * @module
 */

import Fastify, { type FastifyInstance } from "fastify";
import type { MetricsRegistry } from "../dataplane/metrics/registry.js";
import type { Router } from "../dataplane/router.js";
import type { ListenAddress } from "../util/address.js";
import { VERSION } from "../version.js";

export interface AdminOptions {
  router: Router;
  metrics: MetricsRegistry;
}

export function createAdminServer(opts: AdminOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1_048_576 });

  app.get("/healthz", async () => ({ status: "ok", version: VERSION }));

  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", opts.metrics.contentType);
    return opts.metrics.metrics();
  });

  app.get("/api/v1/services", async () => ({
    services: opts.router.services.map((s) => ({
      name: s.name,
      match: s.match,
      stable: s.stable,
      canary: s.canary ?? null,
      weight: s.weight,
    })),
  }));

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
