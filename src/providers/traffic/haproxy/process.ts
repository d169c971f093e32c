/**
 * Starting a real HAProxy from rendered files, for the demo and the tests: master-worker mode
 * in the foreground (`-W -db`) so the caller owns the process, a `global` section with the two
 * lines the render instructions ask for (`lua-load`, the stats socket at level admin) and a
 * pid file, all inside one directory. Not how production runs HAProxy (systemd and the user's
 * own global section do that); the demo must not need either.
 *
 * @module
 */

import { type ChildProcess, spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnEngine } from "../engine-process.js";
import type { RenderedConfig } from "../render.js";
import { CONFIG_FILE, LUA_FILE } from "./render.js";

export const HAPROXY_INSTALL = "apt-get install -y haproxy";

/** The haproxy binary, or an error saying how to install it. */
export function haproxyBinary(): string {
  const found = spawnSync("haproxy", ["-v"], { encoding: "utf8" });
  if (found.error !== undefined || found.status !== 0)
    throw new Error(`haproxy is not installed: ${HAPROXY_INSTALL}`);
  return "haproxy";
}

/** Where one HAProxy's files go. */
export interface HaproxyLayout {
  /** The configuration, the Lua file, the global section and the pid file. */
  dir: string;
  /** The map files (the settings' `mapsDir`); emptied and rewritten. */
  mapsDir: string;
  /** The stats socket (the settings' `runtimeApi` without `unix:`). */
  socketPath: string;
}

/**
 * Writes the rendered files (maps into `mapsDir`, which is emptied first, the rest into `dir`)
 * and a global section; returns the arguments that start HAProxy with them.
 */
export function writeHaproxyFiles(rendered: RenderedConfig, layout: HaproxyLayout): string[] {
  const { dir, mapsDir, socketPath } = layout;
  rmSync(mapsDir, { recursive: true, force: true });
  mkdirSync(mapsDir, { recursive: true });
  for (const f of rendered.files)
    writeFileSync(join(f.name.endsWith(".map") ? mapsDir : dir, f.name), f.content);
  const globalFile = join(dir, "global.cfg");
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
  return ["-W", "-db", "-f", globalFile, "-f", join(dir, CONFIG_FILE)];
}

/** One HAProxy master started by {@link startHaproxyProcess}. */
export interface HaproxyProcess {
  readonly child: ChildProcess;
  /** What the master wrote so far (what a failure prints). */
  output(): string;
  /** How many times a worker has loaded (1 after the start, one more per reload). */
  loads(): number;
  /** Polls `ok` up to 5 s; throws with the output if HAProxy exits or time runs out. */
  waitFor(what: string, ok: () => boolean | Promise<boolean>): Promise<void>;
  /** SIGTERM, SIGKILL after 5 s; resolves once the master has exited. */
  stop(): Promise<void>;
}

/** Starts HAProxy with `args` in `dir` and waits (up to 5 s) until its first worker has loaded. */
export async function startHaproxyProcess(args: string[], dir: string): Promise<HaproxyProcess> {
  let loads = 0;
  const { child, output, gone, stop } = spawnEngine(haproxyBinary(), args, {
    cwd: dir,
    pipe: ["stdout", "stderr"],
    onText: (text) => {
      loads += text.split("Loading success.").length - 1;
    },
  });
  const waitFor = async (what: string, ok: () => boolean | Promise<boolean>) => {
    const until = Date.now() + 5_000;
    while (Date.now() < until) {
      if (await ok()) return;
      if (gone()) throw new Error(`haproxy exited while waiting for ${what}:\n${output()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`haproxy: ${what} not within 5 s:\n${output()}`);
  };
  const started: HaproxyProcess = {
    child,
    output,
    loads: () => loads,
    waitFor,
    stop,
  };
  try {
    await waitFor("its first load", () => loads >= 1);
  } catch (err) {
    await stop();
    throw err;
  }
  return started;
}
