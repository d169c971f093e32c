/**
 * A fleet over real HTTP for tests: a control plane serving the real fleet routes (auth, JSON
 * bodies, the route table) in front of a board and a reports store, and in-process
 * `aviary router`s following it.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { installAuth } from "../src/api/auth.js";
import { installJsonBody } from "../src/api/body.js";
import { type FleetApi, fleetRoutes } from "../src/api/fleet-routes.js";
import { errorHandler } from "../src/api/problem.js";
import { registerRoutes } from "../src/api/route-table.js";
import { TokenRegistry } from "../src/api/tokens.js";
import { FleetRouter } from "../src/fleet/fleet-router.js";
import { systemClock } from "../src/util/clock.js";
import { silentLogger } from "../src/util/log.js";
import { type ServeLog, watchServeLog } from "./fixtures.js";

export const OPERATOR_TOKEN = "fleet-test-operator-token";
export const ROUTER_TOKEN = "fleet-test-router-token";

export interface ControlPlane {
  url: string;
  app: FastifyInstance;
  dir: string;
  close(): Promise<void>;
}

/** The fleet routes on loopback; the tokens file holds one router token. */
export async function startControlPlane(api: FleetApi, port = 0): Promise<ControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), "aviary-fleet-cp-"));
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256").update(ROUTER_TOKEN).digest("hex");
  writeFileSync(join(dir, "tokens"), `sha256:${hash} router edge\n`, { mode: 0o600 });
  const tokens = new TokenRegistry({
    operatorToken: OPERATOR_TOKEN,
    file: join(dir, "tokens"),
    clock: systemClock,
    log: silentLogger(),
  });
  const app = Fastify({ forceCloseConnections: true, keepAliveTimeout: 5_000 });
  installJsonBody(app);
  app.setErrorHandler(errorHandler);
  installAuth(app, { tokens, anonymousRead: false });
  registerRoutes(app, fleetRoutes(api));
  await app.listen({ host: "127.0.0.1", port });
  const address = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    app,
    dir,
    async close() {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestRouterOptions {
  id: string;
  controls: string[];
  dataDir: string;
  /** The data-plane port (0: any). */
  port?: number;
  reportIntervalMs?: number;
}

/** An `aviary router` in this process, on loopback. */
export async function startRouter(o: TestRouterOptions): Promise<FleetRouter> {
  const r = new FleetRouter({
    id: o.id,
    controls: o.controls,
    token: ROUTER_TOKEN,
    listen: { host: "127.0.0.1", port: o.port ?? 0 },
    status: { host: "127.0.0.1", port: 0 },
    dataDir: o.dataDir,
    log: silentLogger(),
    reportIntervalMs: o.reportIntervalMs ?? 200,
    waitMs: 5_000,
  });
  await r.start();
  return r;
}

export interface RouterProcess {
  child: ChildProcess;
  log: ServeLog;
  /** `http://127.0.0.1:port` of its status endpoint. */
  status: string;
  /** `http://127.0.0.1:port` of its data plane, once it serves. */
  url: string;
}

const MAIN = join(import.meta.dirname, "..", "src", "cli", "main.ts");

/**
 * Runs `aviary router` as a user would (from the sources, so no build is needed), and
 * resolves once it has started; it may serve nothing yet.
 */
export async function spawnRouter(o: {
  id: string;
  controls: string[];
  dataDir: string;
  port: number;
}): Promise<RouterProcess> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      MAIN,
      "router",
      "--control",
      o.controls.join(","),
      "--listen",
      `127.0.0.1:${o.port}`,
      "--status",
      "127.0.0.1:0",
      "--data-dir",
      o.dataDir,
      "--id",
      o.id,
      "--report-every",
      "200ms",
    ],
    {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, AVIARY_ROUTER_TOKEN: ROUTER_TOKEN, AVIARY_LOG_LEVEL: "info" },
    },
  );
  const log = watchServeLog(child);
  const started = await log.waitFor(
    (e) => e.msg === "aviary router started",
    "router started",
    30_000,
  );
  return {
    child,
    log,
    status: `http://${started.status as string}`,
    url: `http://127.0.0.1:${o.port}`,
  };
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Polls `check` every 50 ms until it returns something other than undefined, or throws after `ms`. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${ms} ms${last ? ` (${(last as Error).message})` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
