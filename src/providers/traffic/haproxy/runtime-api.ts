/**
 * A client of HAProxy's Runtime API (the `stats socket`, unix or TCP).
 *
 * One connection per provider call, in prompt mode. Prompt mode lets one connection carry the
 * several commands a call needs (`prepare map` answers the version the following `add map` and
 * `commit map` must name, and observe reads every map and the servers in one pass), with each
 * answer ended by the prompt, so answers are split without guessing. A connection is not kept
 * between calls: after a reload the old worker keeps serving a kept connection until it exits,
 * and a command sent there would change a process that is going away. Opening a unix socket
 * costs microseconds next to the commands themselves.
 *
 * Every session is bounded by one deadline (the settings' timeout); errors are typed:
 * no socket or connection refused → `unreachable`, the deadline → `timeout`.
 *
 * @module
 */

import { createConnection, type Socket } from "node:net";
import { TrafficProviderError } from "../provider.js";

export const ENGINE = "haproxy";

/** Where the Runtime API listens: a unix socket path or a TCP host and port. */
export type RuntimeAddress = { path: string } | { host: string; port: number };

export function parseRuntimeAddress(text: string): RuntimeAddress {
  if (text.startsWith("unix:")) return { path: text.slice("unix:".length) };
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  if (m === null)
    throw new TrafficProviderError(ENGINE, "not-configured", `runtimeApi: cannot read ${text}`);
  return { host: (m[1] ?? m[2]) as string, port: Number(m[3]) };
}

const PROMPT = "\n> ";

/** One prompt-mode connection: send commands, get each one's answer (without the prompt). */
export class RuntimeSession {
  readonly #socket: Socket;
  #buffer = "";
  /** Answers still expected, in order, each with its resolver. */
  readonly #waiting: Array<{ resolve: (answer: string) => void }> = [];
  #failure: TrafficProviderError | undefined;
  readonly #onFailure: Array<(e: TrafficProviderError) => void> = [];
  /** The prompt that answers the `prompt` command itself is skipped. */
  #skip = 1;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => this.#receive(chunk));
  }

  #receive(chunk: string): void {
    this.#buffer += chunk;
    for (;;) {
      const end = this.#buffer.indexOf(PROMPT);
      if (end === -1) return;
      const answer = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + PROMPT.length);
      if (this.#skip > 0) {
        this.#skip--;
        continue;
      }
      this.#waiting.shift()?.resolve(answer);
    }
  }

  fail(e: TrafficProviderError): void {
    if (this.#failure !== undefined) return;
    this.#failure = e;
    for (const f of this.#onFailure) f(e);
  }

  /** Sends `commands` at once (pipelined) and resolves with their answers, in order. */
  run(commands: readonly string[]): Promise<string[]> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    for (const c of commands)
      if (/[\r\n]/.test(c))
        throw new TrafficProviderError(ENGINE, "refused", `a command with a line break: ${c}`);
    const answers = commands.map(
      () => new Promise<string>((resolve) => this.#waiting.push({ resolve })),
    );
    const failed = new Promise<never>((_, reject) => this.#onFailure.push(reject));
    this.#socket.write(commands.map((c) => `${c}\n`).join(""));
    return Promise.race([Promise.all(answers), failed]);
  }

  /** Runs one command and returns its answer. */
  async one(command: string): Promise<string> {
    return (await this.run([command]))[0] as string;
  }
}

export class RuntimeApi {
  readonly #address: RuntimeAddress;
  readonly #timeoutMs: number;
  readonly #label: string;

  constructor(address: string, timeoutMs: number) {
    this.#address = parseRuntimeAddress(address);
    this.#timeoutMs = timeoutMs;
    this.#label = address;
  }

  /**
   * Opens a prompt-mode connection, runs `work` on it and closes it; the whole (connect
   * included) bounded by the timeout.
   */
  async session<T>(what: string, work: (s: RuntimeSession) => Promise<T>): Promise<T> {
    const socket = createConnection(
      "path" in this.#address ? { path: this.#address.path } : this.#address,
    );
    const session = new RuntimeSession(socket);
    let timer: NodeJS.Timeout | undefined;
    const failed = new Promise<never>((_, reject) => {
      socket.on("error", (err: NodeJS.ErrnoException) => {
        const e = new TrafficProviderError(
          ENGINE,
          "unreachable",
          `${what}: HAProxy's Runtime API at ${this.#label} is unreachable (${err.code ?? err.message})`,
          { cause: err },
        );
        session.fail(e);
        reject(e);
      });
      socket.on("close", () => {
        const e = new TrafficProviderError(
          ENGINE,
          "unreachable",
          `${what}: HAProxy's Runtime API at ${this.#label} closed the connection before answering`,
        );
        session.fail(e);
        reject(e);
      });
      timer = setTimeout(() => {
        const e = new TrafficProviderError(
          ENGINE,
          "timeout",
          `${what}: HAProxy's Runtime API at ${this.#label} did not answer within ${this.#timeoutMs} ms`,
        );
        session.fail(e);
        reject(e);
      }, this.#timeoutMs);
    });
    failed.catch(() => {});
    try {
      socket.write("prompt\n");
      return await Promise.race([work(session), failed]);
    } finally {
      clearTimeout(timer);
      socket.destroy();
    }
  }
}

/** An answer that is not what the command answers on success: the engine refused it. */
export function refused(command: string, answer: string): TrafficProviderError {
  return new TrafficProviderError(
    ENGINE,
    "refused",
    `HAProxy refused \`${command}\`: ${answer.trim() || "(no answer)"}`,
  );
}
