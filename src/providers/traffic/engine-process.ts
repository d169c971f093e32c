/**
 * What the engine starters (`haproxy/process.ts`, `nginx/process.ts`) share: an engine in the
 * foreground as a child process whose output is kept for the error message, and a stop that
 * cannot hang (SIGTERM, then SIGKILL after 5 s) so the demo and the tests always end.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";

export interface EngineChild {
  readonly child: ChildProcess;
  /** What it wrote so far on the piped streams (and a spawn error). */
  output(): string;
  /** Whether it has exited. */
  gone(): boolean;
  /** SIGTERM, SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/** Spawns `bin args` in the foreground; `pipe` names the streams whose text is kept. */
export function spawnEngine(
  bin: string,
  args: string[],
  options: { cwd?: string; pipe: Array<"stdout" | "stderr">; onText?: (text: string) => void },
): EngineChild {
  const child = spawn(bin, args, {
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdio: [
      "ignore",
      options.pipe.includes("stdout") ? "pipe" : "ignore",
      options.pipe.includes("stderr") ? "pipe" : "ignore",
    ],
  });
  let output = "";
  const onData = (d: Buffer) => {
    const text = d.toString();
    output += text;
    options.onText?.(text);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  child.on("error", (err) => {
    output += `${err.message}\n`;
  });
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    output: () => output,
    gone,
    async stop() {
      if (gone()) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
