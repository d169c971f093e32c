/**
 * A real HAProxy for tests and benchmarks: master-worker mode (`-W -db`) in a temporary
 * directory, on loopback ports, with its stats socket (level admin) in that directory. It
 * renders the spec with `renderHaproxy`, writes a `global` section with the lines the
 * instructions ask for, and keeps the files as first rendered so that `restart` starts from the
 * original configuration (maps included), as a redeploy of the config would.
 *
 * A missing binary is an error naming the install command: the tests run against the real
 * engine or not at all.
 *
 * @module
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CONFIG_FILE,
  LUA_FILE,
  renderHaproxy,
} from "../../src/providers/traffic/haproxy/render.js";
import type { RenderedConfig } from "../../src/providers/traffic/render.js";
import { type Service, Spec, type SpecInput } from "../../src/spec/schema.js";

export const HAPROXY_INSTALL = "apt-get install -y haproxy";

/** The haproxy binary, or an error saying how to install it. */
export function haproxyBinary(): string {
  const found = spawnSync("haproxy", ["-v"], { encoding: "utf8" });
  if (found.error !== undefined || found.status !== 0)
    throw new Error(`haproxy is not installed (needed for these tests): ${HAPROXY_INSTALL}`);
  return "haproxy";
}

/** A free loopback TCP port (bound, read, released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface HaproxyEngine {
  dir: string;
  mapsDir: string;
  /** `unix:<dir>/admin.sock`, the Runtime API address for the provider's settings. */
  runtimeApi: string;
  /** `http://127.0.0.1:<port>`, where users' requests go. */
  url: string;
  /** The spec as parsed, with its dataplane settings filled in. */
  spec: Spec;
  rendered: RenderedConfig;
  /** The master's stderr so far (what a failing test prints). */
  output(): string;
  /** Reloads the master (SIGUSR2) and waits until the new worker has loaded. */
  reload(): Promise<void>;
  /** Stops the process (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again from the files as first rendered (maps included). */
  start(): Promise<void>;
  /** Stops it and starts it again from the files as first rendered. */
  restart(): Promise<void>;
  /** Checks a configuration with `haproxy -c`; returns its exit status and output. */
  check(): { status: number | null; output: string };
  close(): Promise<void>;
}

export interface HaproxyEngineOptions {
  services: SpecInput["services"] | readonly Service[];
  /** Where the access log goes (`udp://127.0.0.1:PORT`); a free port nobody reads by default. */
  logs?: string;
  targetSlots?: number;
  timeout?: string;
}

export async function startHaproxy(options: HaproxyEngineOptions): Promise<HaproxyEngine> {
  const bin = haproxyBinary();
  const dir = mkdtempSync(join(tmpdir(), "aviary-haproxy-"));
  const mapsDir = join(dir, "maps");
  const socketPath = join(dir, "admin.sock");
  const port = await freePort();
  const spec = Spec.parse({
    listen: `127.0.0.1:${port}`,
    dataplane: {
      engine: "haproxy",
      haproxy: {
        runtimeApi: `unix:${socketPath}`,
        mapsDir,
        targetSlots: options.targetSlots ?? 4,
        timeout: options.timeout ?? "2s",
      },
      logs: { listen: options.logs ?? `udp://127.0.0.1:${await freePort()}` },
    },
    services: options.services,
  });
  const rendered = renderHaproxy(spec);
  const globalFile = join(dir, "global.cfg");
  const writeOriginal = () => {
    rmSync(mapsDir, { recursive: true, force: true });
    mkdirSync(mapsDir, { recursive: true });
    for (const f of rendered.files)
      writeFileSync(join(f.name.endsWith(".map") ? mapsDir : dir, f.name), f.content);
    writeFileSync(
      globalFile,
      [
        "global",
        `    lua-load ${join(dir, LUA_FILE)}`,
        `    stats socket ${socketPath} level admin`,
        `    pidfile ${join(dir, "haproxy.pid")}`,
        "",
      ].join("\n"),
    );
  };
  const args = ["-W", "-db", "-f", globalFile, "-f", join(dir, CONFIG_FILE)];
  let child: ChildProcess | undefined;
  let stderr = "";
  let loads = 0;

  const waitFor = async (what: string, ok: () => boolean | Promise<boolean>) => {
    const until = Date.now() + 5_000;
    while (Date.now() < until) {
      if (await ok()) return;
      if (child === undefined || child.exitCode !== null)
        throw new Error(`haproxy exited while waiting for ${what}:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`haproxy: ${what} not within 5 s:\n${stderr}`);
  };

  const start = async () => {
    stderr = "";
    loads = 0;
    const proc = spawn(bin, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    const onData = (d: Buffer) => {
      const text = d.toString();
      stderr += text;
      loads += text.split("Loading success.").length - 1;
    };
    proc.stdout?.on("data", onData);
    proc.stderr?.on("data", onData);
    await waitFor("its first load", () => loads >= 1);
  };

  const stop = async () => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGTERM");
    await exited;
    child = undefined;
  };

  writeOriginal();
  await start();
  return {
    dir,
    mapsDir,
    runtimeApi: `unix:${socketPath}`,
    url: `http://127.0.0.1:${port}`,
    spec,
    rendered,
    output: () => stderr,
    async reload() {
      const before = loads;
      child?.kill("SIGUSR2");
      await waitFor("the reload", () => loads > before);
      if (stderr.includes("Reexecuting Master process in waitpid mode"))
        throw new Error(`haproxy reload failed:\n${stderr}`);
    },
    stop,
    async start() {
      writeOriginal();
      await start();
    },
    async restart() {
      await stop();
      writeOriginal();
      await start();
    },
    check() {
      const r = spawnSync(bin, ["-c", ...args], { cwd: dir, encoding: "utf8" });
      return { status: r.status, output: `${r.stdout}${r.stderr}` };
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
