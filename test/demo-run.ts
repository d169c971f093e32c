/**
 * Runs the built CLI's `aviary demo` as a newcomer would, with its temporary files under `tmp`,
 * and collects what it prints: shared by the demo's end-to-end tests.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { AVIARY_BIN } from "./fixtures.js";

export function runDemo(args: string[], tmp: string) {
  const child = spawn(process.execPath, [AVIARY_BIN, "demo", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TMPDIR: tmp, NO_COLOR: "1", AVIARY_TOKEN: "" },
  });
  let out = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { child, output: () => out, exited };
}

export async function waitFor(output: () => string, re: RegExp, child: ChildProcess, ms: number) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const m = re.exec(output());
    if (m) return m;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${re} within ${ms} ms; output:\n${output()}`);
}

/** The story's outcome in the summary: v2 rolled back by the analysis, v3 promoted, in time. */
export function assertStoryTold(out: string): void {
  assert.match(out, /✗ v2 rolled back by the analysis, on its own/);
  assert.match(out, /why: background analysis failed: (error-rate|latency|orders)/);
  assert.match(out, /✓ v3 promoted to stable/);
  assert.match(out, /v1\s+[\d,]+ served/);
  assert.match(out, /v3\s+[\d,]+ served/);
  const took = /The whole story took (?:(\d+) min )?(\d+) s/.exec(out);
  assert.ok(took, out);
  assert.ok(Number(took[1] ?? 0) < 3, "the story takes under three minutes");
}
