/**
 * A real HAProxy for tests and benchmarks: master-worker mode (`-W -db`) in a temporary
 * directory, on loopback ports, with its stats socket (level admin) in that directory. It
 * renders the spec with `renderHaproxy`, writes a `global` section with the lines the
 * instructions ask for, and keeps the files as first rendered so that `restart` starts from the
 * original configuration (maps included), as a redeploy of the config would. Writing the files
 * and starting the process is the product's starter (`haproxy/process.ts`, which the demo uses);
 * this adds what only tests need (reload, restart, `haproxy -c`).
 *
 * A missing binary is an error naming the install command: the tests run against the real
 * engine or not at all.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type HaproxyProcess,
  haproxyBinary,
  startHaproxyProcess,
  writeHaproxyFiles,
} from "../../src/providers/traffic/haproxy/process.js";
import { renderHaproxy } from "../../src/providers/traffic/haproxy/render.js";
import type { RenderedConfig } from "../../src/providers/traffic/render.js";
import { type Service, Spec, type SpecInput } from "../../src/spec/schema.js";
import { freeTcpPort } from "../../src/util/ports.js";

export { HAPROXY_INSTALL, haproxyBinary } from "../../src/providers/traffic/haproxy/process.js";

/** A free loopback TCP port (bound, read, released). */
export const freePort = freeTcpPort;

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
  const layout = { dir, mapsDir, socketPath };
  const writeOriginal = () => writeHaproxyFiles(rendered, layout);
  let args: string[] = [];
  let proc: HaproxyProcess | undefined;

  const start = async () => {
    proc = await startHaproxyProcess(args, dir);
  };
  // The last process stays readable after it stopped: a failing test prints its output.
  const stop = async () => {
    await proc?.stop();
  };

  args = writeOriginal();
  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    mapsDir,
    runtimeApi: `unix:${socketPath}`,
    url: `http://127.0.0.1:${port}`,
    spec,
    rendered,
    output: () => proc?.output() ?? "",
    async reload() {
      const running = proc;
      if (running === undefined) throw new Error("haproxy was never started");
      const before = running.loads();
      running.child.kill("SIGUSR2");
      await running.waitFor("the reload", () => running.loads() > before);
      if (running.output().includes("Reexecuting Master process in waitpid mode"))
        throw new Error(`haproxy reload failed:\n${running.output()}`);
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
