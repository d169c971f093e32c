/**
 * Shared builders for integration tests: real upstream servers on port 0 and a real router in
 * front of them.
 */

import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { connect } from "node:net";
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
