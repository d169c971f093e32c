/**
 * Operator commands (deploy, promote, pause, resume, abort, gate, retry, undo, apply) on any
 * instance. Only the leader's controller acts, so:
 *
 * - on the leader, a command runs through its controller at once, as with one instance;
 * - on a follower, it is stored (`putCommand`) and the caller waits, woken by the store's change
 *   notices with a poll behind them, for the leader to carry it out and record the outcome: the
 *   answer the leader's route would have given (its body, or its problem's status, code and
 *   message). Past the wait (10 s) the caller gets the command's id to follow instead.
 *
 * The leader's {@link CommandRunner} carries out stored commands one at a time, oldest first,
 * woken by the same notices and by its own tick.
 *
 * Exactly once across a change of leader: the transaction that carries a stored command out
 * (its transition, undo or spec) also marks the command committed in the store, with what its
 * answer is built from (`recordCommandCommit`; the store refuses a second mark, rolling that
 * transaction back). A leader that dies, or is fenced, after that commit and before recording
 * the outcome leaves the command pending but marked: the next leader does not carry it out
 * again, it records the answer built from the mark ({@link CommittedAnswer}). A pending command
 * without the mark committed nothing and is simply carried out: the old leader is fenced and
 * can no longer commit it.
 *
 * @module
 */

import { randomUUID } from "node:crypto";
import { AviaryError } from "../errors.js";
import type {
  CommandCommit,
  CommandKind,
  CommandOutcome,
  CommandRecord,
  Store,
} from "../store/store.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { isFenced } from "./fence.js";

export interface CommandRequest {
  /** The stored command's id; absent for a command run directly on the leader. */
  id?: string;
  kind: CommandKind;
  /** The service it is for; null for `apply`. */
  service: string | null;
  args: Record<string, unknown>;
  actor: string;
}

/** Carries a command out on the leader; resolves to the body the route answers with. */
export type Execute = (command: CommandRequest) => Promise<unknown>;

/**
 * The body the route answers with for a stored command already committed (by a leader that
 * died before recording its outcome), built from the command's mark and the store as it is now.
 */
export type CommittedAnswer = (
  command: CommandRequest,
  committed: CommandCommit,
) => Promise<unknown>;

/** A problem as the leader would have sent it. */
export interface CommandProblemFields {
  code: string;
  message: string;
  status: number;
  details?: unknown;
}

/** The leader refused a follower's command: the same status, code and message as its own refusal. */
export class CommandProblem extends AviaryError {
  readonly status: number;
  readonly details: unknown;
  constructor(fields: CommandProblemFields) {
    super(fields.code, fields.message);
    this.name = "CommandProblem";
    this.status = fields.status;
    this.details = fields.details;
  }
}

export type Submitted = { done: true; result: unknown } | { done: false; id: string };

export interface CommandBusOptions {
  store: Pick<Store, "putCommand" | "getCommand" | "onChange">;
  /** The leader's executor while this instance leads, else undefined. */
  leader: () => Execute | undefined;
  clock: Clock;
  log: Logger;
  /** How long a follower's caller waits for the leader; default 10 s. */
  waitMs?: number;
  /** The poll behind the change notices; default 200 ms. */
  pollMs?: number;
}

export class CommandBus {
  readonly #opts: CommandBusOptions;
  readonly #waiters = new Set<() => void>();
  readonly #unsubscribe: () => void;

  constructor(opts: CommandBusOptions) {
    this.#opts = opts;
    this.#unsubscribe = opts.store.onChange((what) => {
      if (what === "commands") for (const wake of [...this.#waiters]) wake();
    });
  }

  /**
   * Runs the command here if this instance leads, else stores it for the leader and waits for
   * its outcome. Rejects with the leader's error (a {@link CommandProblem} from a follower).
   */
  async submit(command: CommandRequest): Promise<Submitted> {
    const execute = this.#opts.leader();
    if (execute !== undefined) return { done: true, result: await execute(command) };
    const stored = await this.#opts.store.putCommand({
      id: randomUUID(),
      kind: command.kind,
      service: command.service,
      args: command.args,
      actor: command.actor,
      createdAt: this.#opts.clock.now(),
    });
    this.#opts.log.info(
      { command: stored.id, kind: command.kind, service: command.service },
      "command stored for the leader",
    );
    const done = await this.#wait(stored.id);
    if (done?.outcome == null) return { done: false, id: stored.id };
    return { done: true, result: unwrap(done.outcome) };
  }

  /** A stored command, for `GET /api/v1/commands/:id`. */
  get(id: string): Promise<CommandRecord | undefined> {
    return this.#opts.store.getCommand(id);
  }

  close(): void {
    this.#unsubscribe();
    for (const wake of [...this.#waiters]) wake();
  }

  async #wait(id: string): Promise<CommandRecord | undefined> {
    const { clock } = this.#opts;
    const deadline = clock.now() + (this.#opts.waitMs ?? 10_000);
    for (;;) {
      const record = await this.#opts.store.getCommand(id);
      if (record?.outcome != null) return record;
      const left = deadline - clock.now();
      if (left <= 0) return record;
      await new Promise<void>((resolve) => {
        let timer: TimerHandle | undefined;
        const wake = () => {
          timer?.cancel();
          this.#waiters.delete(wake);
          resolve();
        };
        this.#waiters.add(wake);
        timer = clock.setTimeout(wake, Math.min(left, this.#opts.pollMs ?? 200));
      });
    }
  }
}

/** The outcome's result, or its problem thrown. */
export function unwrap(outcome: CommandOutcome): unknown {
  if (outcome.ok) return outcome.result;
  throw new CommandProblem(outcome.error);
}

export interface CommandRunnerOptions {
  /** The leader's fenced store. */
  store: Pick<Store, "pendingCommands" | "getCommand" | "finishCommand" | "onChange">;
  execute: Execute;
  /** The answer to a command whose commit is already in the store. */
  committedAnswer: CommittedAnswer;
  /** An error as the API would answer it (status, code, message, details). */
  describe: (err: unknown) => CommandProblemFields;
  clock: Clock;
  log: Logger;
  tickMs: number;
  /** A write was fenced: this instance no longer leads. */
  onFenced: (err: unknown) => void;
}

/** The leader's side: carries out stored commands in order and records each outcome. */
export class CommandRunner {
  readonly #opts: CommandRunnerOptions;
  #running = false;
  #again = false;
  #stopped = false;
  #idle: Promise<void> = Promise.resolve();
  #timer: TimerHandle | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(opts: CommandRunnerOptions) {
    this.#opts = opts;
  }

  start(): void {
    this.#unsubscribe = this.#opts.store.onChange((what) => {
      if (what === "commands") this.poke();
    });
    this.#tick();
  }

  poke(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#idle = this.#loop();
  }

  /** Stops taking commands; waits for the one in progress (bounded by the caller). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#unsubscribe?.();
    await this.#idle;
  }

  #tick(): void {
    if (this.#stopped) return;
    this.poke();
    this.#timer = this.#opts.clock.setTimeout(() => this.#tick(), this.#opts.tickMs);
  }

  async #loop(): Promise<void> {
    try {
      do {
        this.#again = false;
        const pending = await this.#opts.store.pendingCommands(100);
        for (const c of pending) {
          if (this.#stopped) return;
          await this.#carryOut(c);
        }
        if (pending.length === 100) this.#again = true;
      } while (this.#again && !this.#stopped);
    } catch (err) {
      if (isFenced(err)) this.#opts.onFenced(err);
      else this.#opts.log.error({ err: String(err) }, "reading stored commands failed; will retry");
    } finally {
      this.#running = false;
    }
  }

  async #carryOut(c: CommandRecord): Promise<void> {
    const request: CommandRequest = {
      id: c.id,
      kind: c.kind,
      service: c.service,
      args: c.args,
      actor: String(c.actor),
    };
    const fields = { command: c.id, kind: c.kind, service: c.service };
    if (c.committed !== null) {
      // A previous leader committed it and died (or was fenced) before recording the outcome.
      const result = await this.#opts.committedAnswer(request, c.committed);
      await this.#finish(c, { ok: true, result: result ?? null });
      this.#opts.log.info(
        { ...fields, committedAt: c.committed.at },
        "finished a stored command a previous leader had carried out (committed, outcome not recorded); not carried out again",
      );
      return;
    }
    let outcome: CommandOutcome;
    try {
      const result = await this.#opts.execute(request);
      outcome = { ok: true, result: result ?? null };
    } catch (err) {
      // Not the leader any more: the command stays pending for the next one, never half-done here.
      if (isFenced(err)) throw err;
      // It may have failed after its commit (a later step of the drive): then it took effect, and
      // its answer is what was committed. If the store cannot tell, it stays pending (the loop retries).
      const committed = (await this.#opts.store.getCommand(c.id))?.committed;
      outcome =
        committed != null
          ? { ok: true, result: (await this.#opts.committedAnswer(request, committed)) ?? null }
          : { ok: false, error: this.#opts.describe(err) };
      if (committed != null)
        this.#opts.log.warn(
          { ...fields, err: String(err) },
          "a stored command failed after its commit; answered with what it committed",
        );
    }
    await this.#finish(c, outcome);
    this.#opts.log.info({ ...fields, ok: outcome.ok }, "stored command carried out");
  }

  #finish(c: CommandRecord, outcome: CommandOutcome): Promise<boolean> {
    return this.#opts.store.finishCommand(c.id, outcome, this.#opts.clock.now());
  }
}
