/**
 * Shared builders for integration tests: real upstream servers on port 0 and a real router in
 * front of them.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { connect } from "node:net";
import { join } from "node:path";
import { MetricsRegistry } from "../src/dataplane/metrics/registry.js";
import { Router } from "../src/dataplane/router.js";
import { type Service, Spec, type SpecInput } from "../src/spec/schema.js";
import type { Clock } from "../src/util/clock.js";
import { silentLogger } from "../src/util/log.js";

export interface Upstream {
  url: string;
  server: Server;
  /** Requests received, in order. */
  received: Array<{
    method: string;
    url: string;
    headers: IncomingMessage["headers"];
    bodyBytes: number;
  }>;
  close(): Promise<void>;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** An upstream that answers JSON naming itself and echoing what it got, unless `handler` says otherwise. */
export async function startUpstream(name: string, handler?: UpstreamHandler): Promise<Upstream> {
  const received: Upstream["received"] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      received.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        bodyBytes: body.length,
      });
      if (handler) return handler(req, res, body);
      const out = JSON.stringify({
        name,
        method: req.method,
        url: req.url,
        headers: req.headers,
        bodyBytes: body.length,
      });
      res.writeHead(200, { "content-type": "application/json", "x-upstream": name });
      res.end(out);
    });
  });
  server.keepAliveTimeout = 10_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A port that refuses connections: bound, then closed. */
export async function deadPort(): Promise<string> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

export interface TestRouter {
  url: string;
  port: number;
  router: Router;
  metrics: MetricsRegistry;
  apply(services: SpecInput["services"]): void;
  close(): Promise<void>;
}

/** Parses services through the real schema (defaults and all). */
export function services(input: SpecInput["services"]): Service[] {
  return Spec.parse({ services: input }).services;
}

export async function startRouter(
  input: SpecInput["services"],
  opts: { proxy?: SpecInput["proxy"]; clock?: Clock } = {},
): Promise<TestRouter> {
  const spec = Spec.parse({ services: input, proxy: opts.proxy ?? {} });
  const metrics = new MetricsRegistry(opts.clock ? { clock: opts.clock } : {});
  const router = new Router({
    metrics,
    proxy: spec.proxy,
    log: silentLogger(),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  router.apply(spec.services);
  const { port } = await router.listen({ host: "127.0.0.1", port: 0 });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    router,
    metrics,
    apply: (next) => router.apply(services(next)),
    close: () => router.close(),
  };
}

/** Sends raw bytes over a fresh TCP connection and returns everything read until close. */
export async function rawExchange(port: number, bytes: string, waitMs = 2_000): Promise<string> {
  const socket: Socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  socket.write(bytes);
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  await Promise.race([once(socket, "close"), new Promise((r) => setTimeout(r, waitMs))]);
  socket.destroy();
  return Buffer.concat(chunks).toString("latin1");
}

/** The compiled `aviary` command; `npm test` builds it first. */
export const AVIARY_BIN = join(import.meta.dirname, "..", "dist", "cli", "main.js");

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  admin: string;
}

/** Runs `aviary serve` as a user would and resolves once it says where it listens. */
export async function spawnServe(
  specFile: string,
  dataDir: string,
  env: Record<string, string> = {},
): Promise<ServeProcess> {
  if (!existsSync(AVIARY_BIN))
    throw new Error(`${AVIARY_BIN} is missing: run \`npm run build\` first (npm test does)`);
  const child = spawn(
    process.execPath,
    [AVIARY_BIN, "serve", "-c", specFile, "--data-dir", dataDir],
    {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ...env },
    },
  );
  let log = "";
  const m = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stderr?.on("data", (c: Buffer) => {
      log += c.toString();
      const found = /"listen":"(127\.0\.0\.1:\d+)","admin":"(127\.0\.0\.1:\d+)"/.exec(log);
      if (found) resolve(found);
    });
    child.once("exit", () => reject(new Error(`aviary serve exited before it was ready:\n${log}`)));
  });
  return { child, url: `http://${m[1]}`, admin: `http://${m[2]}` };
}
