/**
 * Every process the benchmark starts goes through here, so that all of them are stopped by
 * pid at the end, on Ctrl-C and on errors: {@link launch} registers, {@link stop} and
 * {@link stopAll} end them (TERM, then KILL after a grace period), and an `exit` hook
 * KILLs whatever is still registered. Pinning (`taskset -c N`) is applied here too.
 *
 * @module
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import net, { type AddressInfo } from "node:net";

const TAIL = 64 * 1024;

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Further pids to end by id when this one is stopped (nginx workers). */
  extraPids: number[];
  /** Resolves once the process has exited and its output is closed: the exit code, or null after a signal. */
  readonly exited: Promise<number | null>;
  /** Whether it has exited. */
  done: boolean;
  stdout: string;
  stderr: string;
}

const live = new Set<Proc>();
const tempDirs = new Set<string>();
let cpuPinning = false;

/** Turns `taskset -c N` on for every {@link launch} that names a CPU. */
export function setPinning(on: boolean): void {
  cpuPinning = on;
}

export function pinningEnabled(): boolean {
  return cpuPinning;
}

/** Whether taskset is installed and the machine has at least two CPUs to split between. */
export function canPin(cpus: number): boolean {
  if (cpus < 2) return false;
  try {
    execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Pins this process (all its threads) to one CPU; children started later name their own. */
export function pinSelf(cpu: number): void {
  execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(process.pid)], {
    stdio: "ignore",
  });
}

export interface LaunchOptions {
  /** CPU to pin to when pinning is on. */
  cpu?: number;
  cwd?: string;
  /** Extra environment variables (added to this process's environment). */
  env?: Record<string, string>;
}

/** Starts a process (through `taskset -c cpu` when pinning), capturing the tail of its output. */
export function launch(name: string, cmd: string, args: string[], opts: LaunchOptions = {}): Proc {
  const pinned = cpuPinning && opts.cpu !== undefined;
  const file = pinned ? "taskset" : cmd;
  const argv = pinned ? ["-c", String(opts.cpu), cmd, ...args] : args;
  const child = spawn(file, argv, {
    cwd: opts.cwd ?? process.cwd(),
    env: opts.env === undefined ? process.env : { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let resolveExit!: (code: number | null) => void;
  const exited = new Promise<number | null>((resolve) => {
    resolveExit = resolve;
  });
  const proc: Proc = {
    name,
    child,
    pid: child.pid ?? -1,
    extraPids: [],
    exited,
    done: false,
    stdout: "",
    stderr: "",
  };
  child.stdout?.setEncoding("utf8").on("data", (s: string) => {
    proc.stdout = (proc.stdout + s).slice(-TAIL);
  });
  child.stderr?.setEncoding("utf8").on("data", (s: string) => {
    proc.stderr = (proc.stderr + s).slice(-TAIL);
  });
  const finish = (code: number | null): void => {
    if (proc.done) return;
    proc.done = true;
    live.delete(proc);
    resolveExit(code);
  };
  child.on("error", (err) => {
    proc.stderr += `\n${err.message}`;
    finish(-1);
  });
  child.on("close", (code) => finish(code));
  if (child.pid !== undefined) live.add(proc);
  return proc;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Stops one process by pid: `sig` first, KILL after `graceMs`, then its extra pids. */
export async function stop(proc: Proc, sig: NodeJS.Signals = "SIGTERM", graceMs = 5000) {
  if (!proc.done && proc.pid > 0) {
    signal(proc.pid, sig);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      proc.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      signal(proc.pid, "SIGKILL");
      for (const pid of proc.extraPids) signal(pid, "SIGKILL");
    }
  }
  for (const pid of proc.extraPids) {
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(20);
    if (alive(pid)) signal(pid, "SIGKILL");
  }
  await proc.exited;
}

/** Stops everything still registered, newest first. */
export async function stopAll(): Promise<void> {
  const procs = [...live].reverse();
  await Promise.all(procs.map((p) => stop(p)));
}

/** Remembers a temp dir to remove at exit. */
export function registerTempDir(dir: string): void {
  tempDirs.add(dir);
}

export function removeTempDirs(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

let interrupted = false;

/** True once Ctrl-C or TERM arrived: errors after that are the interruption, not failures. */
export function wasInterrupted(): boolean {
  return interrupted;
}

/** Last-resort cleanup: on exit KILL what is left; on INT/TERM stop everything, then exit. */
export function installCleanup(say: (line: string) => void): void {
  process.on("exit", () => {
    for (const p of live) {
      signal(p.pid, "SIGKILL");
      for (const pid of p.extraPids) signal(pid, "SIGKILL");
    }
    removeTempDirs();
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      if (interrupted) return;
      interrupted = true;
      say(`\n${sig}: stopping ${live.size} process(es)…`);
      void stopAll().finally(() => {
        removeTempDirs();
        process.exit(sig === "SIGINT" ? 130 : 143);
      });
    });
  }
}

/** The last `lines` non-empty lines of a process's output, for error messages. */
export function tail(text: string, lines = 4): string {
  return text
    .trim()
    .split("\n")
    .filter((l) => l.trim() !== "")
    .slice(-lines)
    .join("\n");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `n` distinct free TCP ports on 127.0.0.1 (held open together while they are picked). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}
