/**
 * One real child process the HA fault tests and `bench:failover` start, signal and restart:
 * `aviary serve`, `aviary router`, an upstream. It keeps every line the process writes (pino's
 * JSON on stderr, or `{ raw }`), so a test can wait for a line and a failure can print the log,
 * and it can be SIGKILLed, SIGSTOPped, SIGCONTed and started again with the same arguments (a
 * restart is a new process: a new pid, a new log generation, the old lines kept for the report).
 *
 * No mocks: what runs is the command a user runs.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";

/** One line the process wrote: pino's object (`msg`, `level`...), or `{ raw }` if not JSON. */
export type LogLine = Record<string, unknown> & { msg?: string; generation: number };

export interface ProcessSpec {
  /** A short name for messages ("serve-a", "router-1"). */
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
}

/** A process that can be killed, paused and started again, with its whole log. */
export class ManagedProcess {
  readonly name: string;
  readonly #spec: ProcessSpec;
  #child: ChildProcess | undefined;
  #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({
    code: null,
    signal: null,
  });
  /** Incremented at every start, so lines can be told apart per life of the process. */
  generation = 0;
  readonly lines: LogLine[] = [];
  readonly #waiters = new Set<(line: LogLine) => void>();
  #stopped = false;

  constructor(spec: ProcessSpec) {
    this.name = spec.name;
    this.#spec = spec;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Whether the current child runs (a SIGSTOPped one still counts). */
  get alive(): boolean {
    const c = this.#child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  get paused(): boolean {
    return this.#stopped;
  }

  /** Starts the process (again); the previous one must have exited. */
  start(): void {
    if (this.alive) throw new Error(`${this.name} is still running (pid ${this.pid})`);
    this.generation += 1;
    const generation = this.generation;
    this.#stopped = false;
    const child = spawn(this.#spec.command, this.#spec.args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...this.#spec.env },
      ...(this.#spec.cwd ? { cwd: this.#spec.cwd } : {}),
    });
    this.#child = child;
    let partial = { stdout: "", stderr: "" };
    const take = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
      const parts = (partial[stream] + chunk.toString()).split("\n");
      partial = { ...partial, [stream]: parts.pop() ?? "" };
      for (const text of parts) if (text.trim() !== "") this.#add(text, generation);
    };
    child.stdout?.on("data", take("stdout"));
    child.stderr?.on("data", take("stderr"));
    child.on("error", (err) => this.#add(`spawn error: ${err.message}`, generation));
    this.#exit = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.#add(`exited: code ${code} signal ${signal}`, generation);
        resolve({ code, signal });
      }),
    );
  }

  #add(text: string, generation: number): void {
    let line: LogLine;
    try {
      const parsed = JSON.parse(text) as unknown;
      line =
        typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
          ? { ...(parsed as Record<string, unknown>), generation }
          : { raw: text, generation };
    } catch {
      line = { raw: text, generation };
    }
    this.lines.push(line);
    for (const w of [...this.#waiters]) w(line);
  }

  /** Sends `signal` to the current child (no-op once it has exited). */
  signal(signal: NodeJS.Signals): void {
    if (!this.alive) return;
    this.#child?.kill(signal);
    if (signal === "SIGSTOP") this.#stopped = true;
    if (signal === "SIGCONT") this.#stopped = false;
  }

  /** SIGKILL and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    if (this.#stopped) this.signal("SIGCONT");
    this.#child?.kill("SIGKILL");
    await this.#exit;
  }

  pause(): void {
    this.signal("SIGSTOP");
  }

  resume(): void {
    this.signal("SIGCONT");
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.alive) return;
    if (this.#stopped) this.signal("SIGCONT");
    this.#child?.kill("SIGTERM");
    const timer = setTimeout(() => this.#child?.kill("SIGKILL"), graceMs);
    await this.#exit;
    clearTimeout(timer);
  }

  /** Resolves when the current child exits. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.#exit;
  }

  /**
   * The first line of the current generation (already written or still to come) that `match`
   * accepts; rejects with the log if it does not come within `timeoutMs` or the process exits.
   */
  waitFor(match: (line: LogLine) => boolean, what: string, timeoutMs = 20_000): Promise<LogLine> {
    const generation = this.generation;
    const ok = (l: LogLine) => l.generation === generation && match(l);
    const seen = this.lines.find(ok);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = (l: LogLine) => {
        if (l.generation !== generation) return;
        if (ok(l)) {
          cleanup();
          resolve(l);
        } else if (typeof l.raw === "string" && l.raw.startsWith("exited: ")) {
          cleanup();
          reject(new Error(`${this.name} exited before ${what}:\n${this.tail()}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms:\n${this.tail()}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
      };
      this.#waiters.add(done);
    });
  }

  /** The last `n` lines, one JSON per line (what a failure prints). */
  tail(n = 40): string {
    return this.lines
      .slice(-n)
      .map((l) => `  [${this.name}#${l.generation}] ${JSON.stringify(l)}`)
      .join("\n");
  }
}
