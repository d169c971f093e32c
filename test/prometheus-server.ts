/**
 * A real Prometheus (Debian's `prometheus` package) for integration tests: started on a free
 * loopback port with its configuration and storage in a temporary directory, scraping the
 * targets a test gives every second, and stopped by the test. Without the binary a test fails
 * with the command that installs it.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { request } from "undici";

export function findPrometheus(): string | undefined {
  const dirs = [
    ...(process.env.PATH ?? "").split(delimiter),
    "/usr/bin",
    "/usr/local/bin",
    "/usr/sbin",
  ];
  for (const dir of dirs) {
    if (dir === "") continue;
    const path = join(dir, "prometheus");
    if (existsSync(path)) return path;
  }
  return undefined;
}

export const MISSING_PROMETHEUS =
  "the prometheus binary is missing: install it with `sudo apt-get install prometheus` (Debian/Ubuntu), or run `sudo scripts/install-system-deps.sh`";

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 100 ms until it gives something other than undefined, or fails after `ms`. */
export async function until<T>(
  what: string,
  ms: number,
  check: () => Promise<T | undefined>,
  log = () => "",
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(
    `${what}: not within ${ms} ms${last ? ` (last error: ${String(last)})` : ""}\n${log()}`,
  );
}

export interface RunningPrometheus {
  url: string;
  /** One instant query, for waiting (the assertions go through the provider). */
  query(q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** The last lines it printed. */
  log(): string;
  stop(): Promise<void>;
}

/** Starts Prometheus scraping `targets` (host:port) every second, and waits until it is ready. */
export async function startPrometheus(dir: string, targets: string[]): Promise<RunningPrometheus> {
  const bin = findPrometheus();
  if (bin === undefined) assert.fail(MISSING_PROMETHEUS);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      "  - job_name: test",
      "    static_configs:",
      `      - targets: [${targets.map((t) => JSON.stringify(t)).join(", ")}]`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn(
    bin,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const keep = (c: Buffer) => {
    output = (output + c.toString()).slice(-8000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const log = () => `prometheus output:\n${output}`;
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`prometheus exited (${code}):\n${output}`))),
  );
  exited.catch(() => {});
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const killed = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await gone;
    clearTimeout(killed);
  };
  try {
    await Promise.race([
      exited,
      until(
        "prometheus ready",
        30_000,
        async () => {
          const res = await request(`${url}/-/ready`);
          await res.body.dump();
          return res.statusCode === 200 ? true : undefined;
        },
        log,
      ),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    log,
    stop,
    async query(q) {
      const res = await request(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.body.json()) as {
        status: string;
        data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
      assert.equal(body.status, "success");
      return body.data.result;
    },
  };
}
