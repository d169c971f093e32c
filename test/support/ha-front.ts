/**
 * The HAProxy in front of the routers, as the high-availability doc tells an operator to run
 * it: round robin over the routers, an active health check, and L7 retries so that a router
 * killed with requests in flight costs the client nothing (`retry-on conn-failure
 * empty-response response-timeout`, `retries 3`, `option redispatch` to retry on another
 * router). Only idempotent requests are retried by HAProxy, which is what the load sends.
 *
 * The configuration text is {@link frontConfig}, the same the doc shows; this starts Debian's
 * HAProxy with it in a temporary directory (a missing binary is an error naming the install).
 *
 * @module
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnEngine } from "../../src/providers/traffic/engine-process.js";
import { haproxyBinary } from "../../src/providers/traffic/haproxy/process.js";
import { freeTcpPort } from "../../src/util/ports.js";

export interface FrontBackend {
  name: string;
  /** `127.0.0.1:PORT` where the router serves traffic. */
  address: string;
  /** Where its health is checked (`GET /healthz`), when not the traffic port. */
  checkPort?: number;
}

/** HAProxy's configuration for a front over `backends` listening on `listen`. */
export function frontConfig(listen: string, backends: readonly FrontBackend[]): string {
  return [
    "global",
    "    maxconn 4096",
    "",
    "defaults",
    "    mode http",
    "    timeout connect 1s",
    "    timeout client 30s",
    // A response slower than this is retried on another router (response-timeout).
    "    timeout server 5s",
    "    timeout http-keep-alive 10s",
    "    option http-keep-alive",
    "",
    "frontend users",
    `    bind ${listen}`,
    "    default_backend routers",
    "",
    "backend routers",
    "    balance roundrobin",
    // A router killed mid-request: its connection fails or closes empty; try another.
    "    retry-on conn-failure empty-response response-timeout",
    "    retries 3",
    "    option redispatch 1",
    "    option httpchk GET /healthz",
    "    http-check expect status 200",
    "    default-server inter 300ms fall 2 rise 2",
    ...backends.map(
      (b) =>
        `    server ${b.name} ${b.address} check${b.checkPort === undefined ? "" : ` port ${b.checkPort}`}`,
    ),
    "",
  ].join("\n");
}

export interface Front {
  /** `http://127.0.0.1:PORT`: where the load goes. */
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts HAProxy with {@link frontConfig}; resolves once it accepts connections. */
export async function startFront(backends: readonly FrontBackend[]): Promise<Front> {
  const bin = haproxyBinary();
  const dir = mkdtempSync(join(tmpdir(), "aviary-front-"));
  const port = await freeTcpPort();
  const file = join(dir, "front.cfg");
  writeFileSync(file, frontConfig(`127.0.0.1:${port}`, backends));
  const check = spawnEngine(bin, ["-c", "-f", file], { pipe: ["stdout", "stderr"] });
  const status = await new Promise<number | null>((resolve) =>
    check.child.once("exit", (code) => resolve(code)),
  );
  if (status !== 0) throw new Error(`the front's configuration is refused:\n${check.output()}`);
  const engine = spawnEngine(bin, ["-W", "-db", "-f", file], { cwd: dir, pipe: ["stderr"] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (engine.gone()) throw new Error(`HAProxy exited at start:\n${engine.output()}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(1_000) });
      break;
    } catch {
      if (i > 100) throw new Error(`HAProxy did not listen within 10 s:\n${engine.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    output: engine.output,
    async stop() {
      await engine.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
