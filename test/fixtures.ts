/**
 * Shared builders for integration tests: real upstream servers on port 0 and a real router in
 * front of them.
 */

import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { connect } from "node:net";
import { join } from "node:path";
import { after } from "node:test";
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

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the compiled CLI without blocking this process. A test that drives load from its own
 * event loop must never wait on `spawnSync`: the load stops for as long as the CLI runs (a
 * second or more on a busy machine), and the analysis then judges intervals with no traffic.
 */
export function runCli(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [AVIARY_BIN, ...args],
      { encoding: "utf8", timeout: 30_000, ...(env ? { env } : {}) },
      (err, stdout, stderr) =>
        resolve({
          status: err ? (typeof err.code === "number" ? err.code : null) : 0,
          stdout,
          stderr,
        }),
    );
  });
}

/** One line `aviary serve` logged: pino's JSON object (`msg`, `level`...), or `{ raw }` if not JSON. */
export type LogEntry = Record<string, unknown> & { msg?: string };

/** The log of an `aviary serve` process, line by line, as it is written. */
export interface ServeLog {
  /** Every line so far. */
  readonly entries: readonly LogEntry[];
  /** The first line (already written or still to come) that `match` accepts. */
  waitFor(match: (e: LogEntry) => boolean, what: string, timeoutMs?: number): Promise<LogEntry>;
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  admin: string;
  log: ServeLog;
}

/**
 * The lines `aviary serve` writes when an error escaped every handler (its process-level
 * policy, src/cli/commands/serve.ts). Every serve process a test file starts is watched for
 * them, and the file fails at its end if one appeared: each is a bug, even if the test that
 * caused it passed.
 */
const ESCAPED = new Set(["unhandled rejection", "uncaught exception; exiting"]);
const escaped: string[] = [];
after(() => {
  assert.deepEqual(escaped, [], "aviary serve logged an error that nothing handled");
});

/**
 * Collects the stderr lines of an `aviary serve` child. `escapedAllowed` is for the one test
 * that provokes an unhandled rejection on purpose.
 */
export function watchServeLog(
  child: ChildProcess,
  opts: { escapedAllowed?: boolean } = {},
): ServeLog {
  const entries: LogEntry[] = [];
  const waiters = new Set<(e: LogEntry) => void>();
  let partial = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() === "") continue;
      let entry: LogEntry;
      try {
        entry = JSON.parse(line) as LogEntry;
      } catch {
        entry = { raw: line };
      }
      entries.push(entry);
      if (!opts.escapedAllowed && typeof entry.msg === "string" && ESCAPED.has(entry.msg))
        escaped.push(line);
      for (const w of [...waiters]) w(entry);
    }
  });
  return {
    entries,
    waitFor(match, what, timeoutMs = 10_000) {
      const seen = entries.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const done = (e: LogEntry) => {
          if (!match(e)) return;
          waiters.delete(done);
          clearTimeout(timer);
          resolve(e);
        };
        const timer = setTimeout(() => {
          waiters.delete(done);
          reject(
            new Error(
              `no log line ${what} within ${timeoutMs} ms:\n${entries.map((e) => JSON.stringify(e)).join("\n")}`,
            ),
          );
        }, timeoutMs);
        waiters.add(done);
      });
    },
  };
}

/** Runs `aviary serve` as a user would and resolves once it says where it listens. */
export async function spawnServe(
  specFile: string,
  dataDir: string,
  env: Record<string, string> = {},
  opts: { escapedAllowed?: boolean } = {},
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
  const log = watchServeLog(child, opts);
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", () =>
      reject(
        new Error(
          `aviary serve exited before it was ready:\n${log.entries.map((e) => JSON.stringify(e)).join("\n")}`,
        ),
      ),
    ),
  );
  exited.catch(() => undefined);
  const ready = await Promise.race([
    log.waitFor((e) => e.msg === "aviary serving", "aviary serving", 30_000),
    exited,
  ]);
  return { child, url: `http://${ready.listen}`, admin: `http://${ready.admin}`, log };
}
