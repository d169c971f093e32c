/**
 * One instance's part in the control plane: it takes part in the election ({@link Leadership}),
 * and while it leads it runs one *term*: the controller and everything that acts (timers,
 * analysis, gates, webhooks, stored commands) on a store fenced with the term's epoch. A term is
 * created when the lead is taken and dropped when it is lost; nothing of it survives into the
 * next, so a stale term cannot act on state it read before.
 *
 * Losing the lead stops the term without waiting on a hung database for ever (bounded by the
 * lease's ttl): whatever it still had in flight is refused by the fence.
 *
 * @module
 */

import type { Store } from "../store/store.js";
import type { Clock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import {
  CommandBus,
  type CommandProblemFields,
  CommandRunner,
  type CommittedAnswer,
  type Execute,
} from "./commands.js";
import { watchFence } from "./fence.js";
import { CONTROLLER_LEASE, Leadership, type LeadershipState, withTimeout } from "./leadership.js";

/** What runs while this instance leads. */
export interface Term {
  /** Carries out an operator command (the body the route answers with). */
  execute: Execute;
  /** The answer to a stored command a previous leader committed but did not finish. */
  committedAnswer: CommittedAnswer;
  /** Stops everything the term started. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  store: Store;
  instance: string;
  ttlMs: number;
  clock: Clock;
  log: Logger;
  /** Starts a term on the fenced store. A rejection ends the term (the lease is given up). */
  startTerm: (fenced: Store, epoch: number) => Promise<Term>;
  /** An error as the API answers it (for stored commands' outcomes). */
  describe: (err: unknown) => CommandProblemFields;
  /** How often the leader looks for stored commands besides the change notices; default 1 s. */
  tickMs?: number;
  /** How long a follower's caller waits for the leader's outcome; default 10 s. */
  commandWaitMs?: number;
}

interface Running {
  epoch: number;
  term: Term | undefined;
  runner: CommandRunner | undefined;
}

export class Cluster {
  readonly leadership: Leadership;
  readonly commands: CommandBus;
  readonly #opts: ClusterOptions;
  #running: Running | undefined;
  /** Term starts and stops, one at a time, in the order leadership changed. */
  #changes: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(opts: ClusterOptions) {
    this.#opts = opts;
    this.leadership = new Leadership({
      store: opts.store,
      holder: opts.instance,
      ttlMs: opts.ttlMs,
      clock: opts.clock,
      log: opts.log,
      onLead: (epoch) => this.#enqueue(() => this.#begin(epoch)),
      onLose: (why) => this.#enqueue(() => this.#end(why)),
    });
    this.commands = new CommandBus({
      store: opts.store,
      leader: () => (this.leadership.isLeader ? this.#running?.term?.execute : undefined),
      clock: opts.clock,
      log: opts.log,
      ...(opts.commandWaitMs !== undefined ? { waitMs: opts.commandWaitMs } : {}),
    });
  }

  get instance(): string {
    return this.#opts.instance;
  }

  /**
   * Joins the election. Resolves once the first attempt is made and, if it took the lead, the
   * term has started; rejects with the term's error if that start failed (a spec refused, say),
   * so a single instance fails to start as it did before leadership existed.
   */
  async start(): Promise<void> {
    await this.leadership.start();
    await this.settled();
    const err = this.#termError;
    this.#termError = undefined;
    if (err !== undefined) throw err;
  }

  /** Resolves once the current term has started (or none runs): for tests and the ready line. */
  async settled(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.#changes;
      await seen;
    } while (seen !== this.#changes);
  }

  state(): LeadershipState {
    return this.leadership.state();
  }

  describe(): Promise<LeadershipState> {
    return this.leadership.describe();
  }

  /** Leaves the cluster: the term stops, and the lease is released unless `release` is false. */
  async close(opts: { release?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.commands.close();
    // Stops the term (through onLose) and then gives the lease up, so a follower takes over at once.
    const left = this.leadership.close({ release: false });
    await left;
    await this.settled();
    const epoch = this.#lastEpoch;
    if (epoch !== undefined && opts.release !== false) {
      try {
        await withTimeout(
          this.#opts.store.releaseLease(CONTROLLER_LEASE, this.#opts.instance, epoch),
          this.#opts.ttlMs,
          "releasing the lease",
        );
        this.#opts.log.info({ epoch }, "lease released");
      } catch (err) {
        this.#opts.log.warn(
          { err: String(err) },
          "could not release the lease; another instance takes it when it expires",
        );
      }
    }
  }

  #lastEpoch: number | undefined;
  #termError: unknown;

  #enqueue(change: () => Promise<void>): void {
    this.#changes = this.#changes.then(change).catch((err: unknown) => {
      this.#opts.log.error({ err: String(err) }, "changing leadership failed");
    });
  }

  async #begin(epoch: number): Promise<void> {
    if (!this.leadership.isLeader || this.leadership.epoch !== epoch) return;
    const running: Running = { epoch, term: undefined, runner: undefined };
    this.#running = running;
    this.#lastEpoch = epoch;
    const { store, clock, log } = this.#opts;
    const onFenced = (err: unknown) =>
      this.leadership.stepDown(
        `a write was refused by the fence (epoch ${epoch}): another instance leads (${err instanceof Error ? err.message : String(err)})`,
      );
    const fenced = watchFence(
      store.fenced({ lease: CONTROLLER_LEASE, holder: this.#opts.instance, epoch }),
      onFenced,
    );
    try {
      running.term = await this.#opts.startTerm(fenced, epoch);
    } catch (err) {
      this.#termError = err;
      log.error({ err: String(err), epoch }, "could not start leading; stepping down");
      this.leadership.stepDown(`starting the controller failed: ${String(err)}`);
      return;
    }
    // Lost while starting: the queued end stops it.
    if (this.#running !== running) return;
    running.runner = new CommandRunner({
      store: fenced,
      execute: running.term.execute,
      committedAnswer: running.term.committedAnswer,
      describe: this.#opts.describe,
      clock,
      log,
      tickMs: this.#opts.tickMs ?? 1_000,
      onFenced,
    });
    running.runner.start();
    log.info({ epoch }, "controller running");
  }

  async #end(why: string): Promise<void> {
    const running = this.#running;
    this.#running = undefined;
    if (running === undefined) return;
    const stop = async () => {
      await running.runner?.stop();
      await running.term?.stop();
    };
    try {
      // A hung database must not hold the instance: the fence refuses the term's late writes.
      await withTimeout(stop(), this.#opts.ttlMs, "stopping the controller");
    } catch (err) {
      this.#opts.log.warn({ err: String(err), epoch: running.epoch }, "controller stop abandoned");
    }
    this.#opts.log.info({ epoch: running.epoch, why }, "controller stopped");
  }
}
