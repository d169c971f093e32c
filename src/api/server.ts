/**
 * The admin server on the admin address (loopback by default): the REST API under `/api/v1`
 * (bearer tokens with roles, see `auth.ts`), its OpenAPI document, the event stream,
 * Prometheus `/metrics` and a health probe. Every route comes from one table
 * (`route-table.ts`), which is also what `/openapi.json` describes.
 *
 * @module
 */

import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { CommandBus } from "../cluster/commands.js";
import type { LeadershipState } from "../cluster/leadership.js";
import type { ControlReads } from "../cluster/reads.js";
import { defaultDashboardDir, registerDashboard } from "../dashboard/routes.js";
import type { MetricsRegistry } from "../dataplane/metrics/registry.js";
import type { EventHub } from "../events/hub.js";
import type { StoreHealth } from "../store/health.js";
import type { ListenAddress } from "../util/address.js";
import type { Clock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { VERSION } from "../version.js";
import { type AccessConfig, identityOf, installAuth } from "./auth.js";
import { installJsonBody } from "./body.js";
import { DEFAULT_MAX_CONNECTIONS, limitConnections } from "./connections.js";
import { type FleetApi, fleetRoutes } from "./fleet-routes.js";
import { type ApiStore, historyRoutes } from "./history-routes.js";
import { metricsRoutes, type WindowSource } from "./metrics-routes.js";
import { openApiDocument } from "./openapi.js";
import { BODY_LIMIT, errorHandler, problem, sendProblem } from "./problem.js";
import { rolloutRoutes } from "./rollout-routes.js";
import { type ApiRoute, registerRoutes, route } from "./route-table.js";
import { EventStreams, streamRoutes } from "./stream.js";
import type { TokenRegistry } from "./tokens.js";

export interface AdminOptions {
  metrics: MetricsRegistry;
  /**
   * What the charts read (`GET /api/v1/services/{name}/metrics`) when not `metrics`: the
   * fleet's merged figures, since with `dataplane.engine: fleet` (and `serve --workers`) no
   * request passes through this process.
   */
  windows?: WindowSource;
  /** How far back the metrics registry reaches (the spec's metrics.window), ms. */
  metricsWindowMs: number;
  controller: ControlReads;
  /** Operator commands: run here on the leader, stored for it on a follower. */
  commands: CommandBus;
  /** This instance's place in the cluster, with the lease as stored now. */
  cluster: { describe(): Promise<LeadershipState> };
  store: ApiStore;
  hub: EventHub;
  tokens: TokenRegistry;
  /** GET/HEAD under /api/ without a token (spec auth.anonymousRead). */
  anonymousRead: boolean;
  clock: Clock;
  log: Logger;
  /** Event stream limits (tests lower them). */
  streams?: {
    maxStreams?: number;
    maxStreamsPerToken?: number;
    heartbeatMs?: number;
    maxBufferedBytes?: number;
  };
  /** Connections the admin server holds at once; default 1024 (tests lower it). */
  maxConnections?: number;
  /** How long a request head may take to arrive; default 10 s (tests lower it). */
  headersTimeoutMs?: number;
  /** The fleet's routes (`dataplane.engine: fleet`). */
  fleet?: FleetApi;
}

/** A route as Fastify registered it, whatever registered it. */
export interface RegisteredRoute {
  method: string;
  url: string;
  access: AccessConfig["access"];
}

const registered = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Every route of an admin server, HEAD routes included, as Fastify's onRoute saw them. */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return registered.get(app) ?? [];
}

/** The routes of the admin server, in one table. */
export function adminRoutes(opts: AdminOptions, streams: EventStreams): ApiRoute[] {
  const table: ApiRoute[] = [
    ...rolloutRoutes(opts.controller, opts.commands),
    ...historyRoutes(opts.controller, opts.store),
    ...metricsRoutes(
      opts.controller,
      opts.windows ?? opts.metrics,
      opts.metricsWindowMs,
      opts.clock,
    ),
    ...streamRoutes(opts.controller, streams),
    ...(opts.fleet ? fleetRoutes(opts.fleet) : []),
    route({
      method: "GET",
      url: "/api/v1/cluster",
      summary: "The cluster",
      description:
        "This instance and its role (`leader` or `follower`), the leader and its epoch, the lease's time left by the database's clock, and why there is no leader when none holds the lease (`the database is unreachable: ...`).",
      tags: ["operations"],
      role: "read-only",
      response: {
        description:
          "`{ instance, role, leader, epoch, leaseLeftMs, ttlMs, why }`; `leader`, `epoch` and `leaseLeftMs` null, and `why` set, when no instance leads.",
      },
      handler: () => opts.cluster.describe(),
    }),
    route({
      method: "GET",
      url: "/api/v1/whoami",
      summary: "Who am I",
      description:
        "The caller's token name and role; `anonymous` for a read without a token under auth.anonymousRead. A 401 means the token is not known.",
      tags: ["auth"],
      role: "read-only",
      response: { description: '`{ name, role: "operator" | "read-only" | "anonymous" }`' },
      handler: ({ req }) => identityOf(req) ?? { name: "anonymous", role: "anonymous" },
    }),
    route({
      method: "GET",
      url: "/healthz",
      summary: "Health probe",
      tags: ["operations"],
      role: "public",
      description:
        "200 `ok` while the store writes; 503 `degraded` once a store write failed (a busy lock past the timeout, a full disk, a read-only file), with what failed and since when, until a write goes through again.",
      response: {
        description:
          '`{ status: "ok", version, checks: { store: { ok: true } } }`; when degraded, a 503 with `status: "degraded"` and `store: { ok: false, error, since }`',
      },
      handler: ({ reply }) => {
        const store: StoreHealth = opts.store.health?.() ?? { ok: true };
        if (!store.ok) reply.code(503);
        return { status: store.ok ? "ok" : "degraded", version: VERSION, checks: { store } };
      },
    }),
    route({
      method: "GET",
      url: "/metrics",
      summary: "Prometheus metrics",
      description: "The data plane's per-version request metrics, in Prometheus text format.",
      tags: ["operations"],
      role: "public",
      response: { description: "Prometheus exposition.", contentType: "text/plain" },
      handler: async ({ reply }) => {
        reply.header("content-type", opts.metrics.contentType);
        return opts.metrics.metrics();
      },
    }),
  ];
  table.push(
    route({
      method: "GET",
      url: "/openapi.json",
      summary: "This document",
      tags: ["operations"],
      role: "public",
      response: { description: "The OpenAPI 3.1 document of this API." },
      handler: () => document,
    }),
  );
  const document = openApiDocument(table);
  return table;
}

/** See the `http` options below. */
export const HEADERS_TIMEOUT_MS = 10_000;

export function createAdminServer(opts: AdminOptions): FastifyInstance {
  const app = Fastify({
    // Requests are not logged one by one (warn and above only): the access log of an admin API
    // is noise, and its Authorization headers must never reach a log anyway.
    loggerInstance: opts.log.child(
      { component: "api" },
      // Raised to warn, never lowered: a quieter process logger stays quiet.
      { level: opts.log.levelVal > opts.log.levels.values.warn! ? opts.log.level : "warn" },
    ) as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT,
    // Socket idle time: the event stream's heartbeat (15 s) keeps a quiet stream well inside it.
    connectionTimeout: 60_000,
    // The whole request (head and body) must arrive within this: no slow-loris clients.
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
    http: {
      // A request head (the request line and headers, a few hundred bytes from a CLI or a
      // browser) must arrive within 10 s of its first byte, or of the connection when none
      // came: an idle or half-sent connection gives its slot back quickly.
      headersTimeout: opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS,
      // How often Node looks for requests past those timeouts (its default, 30 s, would let a
      // half-sent request live up to 40 s instead of 10).
      connectionsCheckingInterval: 1_000,
    },
    routerOptions: { maxParamLength: 200 },
    // A malformed or overlong path is refused before routing: as problem+json too.
    frameworkErrors: errorHandler,
  });
  limitConnections(
    app.server,
    opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    opts.metrics.prometheus,
  );
  installJsonBody(app);
  const routes: RegisteredRoute[] = [];
  registered.set(app, routes);
  app.addHook("onRoute", (r) => {
    const methods = [r.method].flat();
    for (const method of methods)
      routes.push({ method, url: r.url, access: (r.config as AccessConfig | undefined)?.access });
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) =>
    sendProblem(
      reply,
      problem(404, "AVIARY_NOT_FOUND", `no route ${req.method} ${req.url.split("?")[0]}`),
    ),
  );
  installAuth(app, { tokens: opts.tokens, anonymousRead: opts.anonymousRead });

  const streams = new EventStreams({
    hub: opts.hub,
    store: opts.store,
    clock: opts.clock,
    log: opts.log,
    ...opts.streams,
  });
  // Before the server stops accepting: open streams would otherwise hold close() forever.
  app.addHook("preClose", async () => streams.closeAll());
  registerRoutes(app, adminRoutes(opts, streams));
  registerDashboard(app, { dir: defaultDashboardDir() });
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
