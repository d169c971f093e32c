/**
 * Leadership of the control plane: the `controller` lease in the store, taken and renewed by
 * every instance, held by one. The holder runs the controller (see `term.ts`); the others serve
 * reads and store commands for it.
 *
 * The lease's expiry is measured by the database's clock, so instances need no agreement on
 * time. The holder also keeps its own count, on its monotonic clock: when it has not renewed
 * within ttl minus one renew period (the database slow or gone, the process paused), it steps
 * down by itself before the lease can expire under it. That bounds how long a leader may
 * believe it leads; the fence in SQL (`Store.fenced`) bounds what a leader that believes it
 * wrongly can write: nothing.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Lease, Store } from "../store/store.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";

/** The lease the controller runs under. */
export const CONTROLLER_LEASE = "controller";

/** `<hostname>-<pid>-<4 random hex>`: unique per process, and says where it runs. */
export function instanceIdentity(): string {
  return `${hostname()}-${process.pid}-${randomBytes(2).toString("hex")}`;
}

export interface LeadershipOptions {
  store: Pick<Store, "acquireLease" | "releaseLease" | "readLease">;
  /** This instance's identity (the lease's holder). */
  holder: string;
  /** The lease's time to live (database clock); renewed every ttl/5. */
  ttlMs: number;
  lease?: string;
  /** Timers (renewals). Real time in `aviary serve`; the lease is about real processes. */
  clock: Clock;
  /** A monotonic clock for the step-down deadline; default `performance.now`. */
  monotonic?: () => number;
  log: Logger;
  /** This instance now leads under `epoch`. Called once per term. */
  onLead(epoch: number): void;
  /** This instance no longer leads (why, in words). Called once per term, after onLead. */
  onLose(why: string): void;
}

export type Role = "leader" | "follower" | "stopped";

/** What `GET /api/v1/cluster` shows of this instance. */
export interface LeadershipState {
  instance: string;
  role: Role;
  /** The leader as last seen (this instance when it leads); null when none holds a valid lease. */
  leader: string | null;
  epoch: number | null;
  /** Milliseconds the lease has left, by the database's clock when last read. */
  leaseLeftMs: number | null;
  ttlMs: number;
  /** Why there is no leader (or why this instance stepped down last), in words. */
  why: string | null;
}

type Settings = Required<LeadershipOptions>;

export class Leadership {
  readonly #opts: Settings;
  readonly #renewMs: number;
  #role: Role = "follower";
  #epoch: number | null = null;
  /** Monotonic time the last successful renewal was sent (its lease runs from after it). */
  #renewedAt = 0;
  /** The epoch of the last term that ended: never led again under the same epoch. */
  #lostEpoch: number | null = null;
  #lastLease: Lease | undefined;
  #why: string | null = "no instance has taken the lease yet";
  #timer: TimerHandle | undefined;
  #watchdog: TimerHandle | undefined;
  #inFlight = false;
  #closed = false;

  constructor(opts: LeadershipOptions) {
    if (!(opts.ttlMs >= 50)) throw new Error(`lease ttl ${opts.ttlMs} ms: at least 50 ms`);
    this.#opts = {
      lease: CONTROLLER_LEASE,
      monotonic: () => performance.now(),
      ...opts,
    };
    this.#renewMs = Math.max(10, Math.floor(opts.ttlMs / 5));
  }

  get holder(): string {
    return this.#opts.holder;
  }

  get renewMs(): number {
    return this.#renewMs;
  }

  get isLeader(): boolean {
    return this.#role === "leader";
  }

  /** The current term's epoch, while leading. */
  get epoch(): number | null {
    return this.#role === "leader" ? this.#epoch : null;
  }

  /** Starts trying for the lease now, then every renew period; resolves after the first try. */
  start(): Promise<void> {
    return this.#attempt();
  }

  /** One attempt now (a test, or a follower that wants to know sooner). */
  async attempt(): Promise<void> {
    await this.#attempt();
  }

  /**
   * Steps down at once (a write was refused by the fence: another instance leads). The lease
   * is not released: it is not ours any more, or it will expire.
   */
  stepDown(why: string): void {
    if (this.#role !== "leader") return;
    this.#lose(why);
  }

  /** Where leadership stands, with the lease as stored now (the database's answer or its error). */
  async describe(): Promise<LeadershipState> {
    let lease: Lease | undefined;
    let why = this.#why;
    try {
      lease = await this.#opts.store.readLease(this.#opts.lease);
      this.#lastLease = lease;
      if (lease === undefined) why = "no instance has taken the lease yet";
      else if (lease.expiresAt <= lease.now)
        why = `the lease of ${lease.holder} (epoch ${lease.epoch}) expired ${lease.now - lease.expiresAt} ms ago; an instance takes it within one renew period (${this.#renewMs} ms)`;
      else why = this.#role === "leader" ? null : why;
    } catch (err) {
      return {
        ...this.state(),
        leader: this.#role === "leader" ? this.#opts.holder : null,
        why: `the database is unreachable: ${messageOf(err)}`,
      };
    }
    const valid = lease !== undefined && lease.expiresAt > lease.now;
    return {
      instance: this.#opts.holder,
      role: this.#role,
      leader: valid ? (lease?.holder ?? null) : null,
      epoch: valid ? (lease?.epoch ?? null) : null,
      leaseLeftMs: valid && lease ? lease.expiresAt - lease.now : null,
      ttlMs: this.#opts.ttlMs,
      why: valid ? null : why,
    };
  }

  /** Where leadership stands as this instance last saw it (no database call). */
  state(): LeadershipState {
    const lease = this.#lastLease;
    const leading = this.#role === "leader";
    return {
      instance: this.#opts.holder,
      role: this.#role,
      leader: leading ? this.#opts.holder : (lease?.holder ?? null),
      epoch: leading ? this.#epoch : (lease?.epoch ?? null),
      leaseLeftMs: lease ? Math.max(0, lease.expiresAt - lease.now) : null,
      ttlMs: this.#opts.ttlMs,
      why: leading ? null : this.#why,
    };
  }

  /** Stops trying; a leader steps down and releases the lease so another takes over at once. */
  async close(opts: { release?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    this.#watchdog?.cancel();
    const epoch = this.#role === "leader" ? this.#epoch : null;
    if (this.#role === "leader") this.#lose("this instance is shutting down");
    this.#role = "stopped";
    if (epoch !== null && opts.release !== false) {
      try {
        await withTimeout(
          this.#opts.store.releaseLease(this.#opts.lease, this.#opts.holder, epoch),
          this.#opts.ttlMs,
          "releasing the lease",
        );
      } catch (err) {
        this.#opts.log.warn(
          { err: messageOf(err) },
          "could not release the lease; another instance takes it when it expires",
        );
      }
    }
  }

  async #attempt(): Promise<void> {
    if (this.#closed || this.#inFlight) return;
    this.#inFlight = true;
    const { store, lease: name, holder, ttlMs, monotonic } = this.#opts;
    const sentAt = monotonic();
    try {
      let lease = await store.acquireLease(name, holder, ttlMs);
      if (this.#closed) return;
      // An answer that took longer than the lease can be trusted says nothing about now.
      if (monotonic() - sentAt > ttlMs - this.#renewMs) {
        this.#why = "the database answered too slowly to hold the lease";
        if (this.#role === "leader") this.#lose(this.#why);
        return;
      }
      if (lease !== undefined && this.#role !== "leader" && lease.epoch === this.#lostEpoch) {
        // Still ours from a term that ended (we stepped down on a slow database): give it up
        // and take it afresh, so the new term has a new epoch and the old term's writes in
        // flight, if any, are refused by the fence.
        await store.releaseLease(name, holder, lease.epoch);
        lease = await store.acquireLease(name, holder, ttlMs);
        if (this.#closed) return;
      }
      if (lease === undefined && this.#role !== "leader") {
        const held = await store.readLease(name);
        if (held !== undefined && held.expiresAt > held.now && deadOnThisHost(held.holder)) {
          // Its holder was a process on this machine that is gone (killed, crashed): waiting
          // out its lease would only delay the restart. Given up for it; taken afresh.
          this.#opts.log.info(
            { holder: held.holder, epoch: held.epoch },
            "the lease's holder is a process of this machine that no longer runs: taking over",
          );
          await store.releaseLease(name, held.holder, held.epoch);
          lease = await store.acquireLease(name, holder, ttlMs);
          if (this.#closed) return;
        }
      }
      this.#lastLease = lease;
      if (lease === undefined) {
        if (this.#role === "leader") this.#lose("another instance holds the lease");
        const held = await store.readLease(name).catch(() => undefined);
        this.#lastLease = held;
        this.#why = held === undefined ? "no instance has taken the lease yet" : null;
        return;
      }
      if (this.#role === "leader" && lease.epoch !== this.#epoch)
        this.#lose(`the lease changed hands (epoch ${this.#epoch} → ${lease.epoch})`);
      this.#renewedAt = sentAt;
      this.#armWatchdog();
      if (this.#role !== "leader") {
        this.#role = "leader";
        this.#epoch = lease.epoch;
        this.#why = null;
        this.#opts.log.info({ instance: holder, epoch: lease.epoch }, "leading the control plane");
        this.#opts.onLead(lease.epoch);
      }
    } catch (err) {
      this.#why = `the database is unreachable: ${messageOf(err)}`;
      this.#opts.log.warn({ err: messageOf(err) }, "could not take or renew the lease");
      // The watchdog steps a leader down when its lease may have run out.
    } finally {
      this.#inFlight = false;
      this.#scheduleNext();
    }
  }

  #scheduleNext(): void {
    if (this.#closed) return;
    this.#timer?.cancel();
    this.#timer = this.#opts.clock.setTimeout(() => void this.#attempt(), this.#renewMs);
  }

  /** Fires when the lease may be about to run out without a renewal: steps down. */
  #armWatchdog(): void {
    this.#watchdog?.cancel();
    const deadline = this.#renewedAt + this.#opts.ttlMs - this.#renewMs;
    const check = () => {
      if (this.#role !== "leader" || this.#closed) return;
      const left = this.#renewedAt + this.#opts.ttlMs - this.#renewMs - this.#opts.monotonic();
      if (left > 0) {
        // Timers fire late after a pause, never early; a renewal since moved the deadline.
        this.#watchdog = this.#opts.clock.setTimeout(check, left);
        return;
      }
      this.#why = `the lease was not renewed within ${this.#opts.ttlMs - this.#renewMs} ms${this.#why ? ` (${this.#why})` : ""}`;
      this.#lose(this.#why);
    };
    this.#watchdog = this.#opts.clock.setTimeout(
      check,
      Math.max(0, deadline - this.#opts.monotonic()),
    );
  }

  #lose(why: string): void {
    if (this.#role !== "leader") return;
    this.#role = "follower";
    this.#lostEpoch = this.#epoch;
    this.#watchdog?.cancel();
    this.#why = why;
    this.#opts.log.warn({ instance: this.#opts.holder, epoch: this.#epoch, why }, "stepped down");
    this.#opts.onLose(why);
  }
}

/**
 * Whether a holder named `<hostname>-<pid>-<hex>` (see {@link instanceIdentity}) was a process
 * of this machine that no longer exists. A reused pid reads as alive: the safe side (wait).
 */
export function deadOnThisHost(holderName: string): boolean {
  const m = /^(.*)-(\d+)-[0-9a-f]{4}$/.exec(holderName);
  if (m === null || m[1] !== hostname()) return false;
  const pid = Number(m[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Rejects after ms (the operation itself is not cancelled; its outcome is ignored). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
