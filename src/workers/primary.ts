/**
 * `aviary serve --workers N`: this process becomes a node:cluster primary. It runs the control
 * plane and the admin API (startAviary with `workers`), binds no data-plane socket of its own,
 * and keeps N workers, each a fleet router ({@link FleetRouter} in `worker.ts`) following it
 * over loopback with a router token made for this run. The control plane judges the workers'
 * summed windows exactly as it judges a fleet of `aviary router` processes.
 *
 * @module
 */

import cluster, { type Worker } from "node:cluster";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isFinal } from "../providers/traffic/fleet/index.js";
import type { RunningAviary } from "../server.js";
import type { ListenAddress } from "../util/address.js";
import { formatListenAddress } from "../util/address.js";
import { type Clock, systemClock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import {
  type FailedMessage,
  isMessage,
  type ServingMessage,
  type StartMessage,
  type ToWorker,
} from "./messages.js";
import { RestartBackoff } from "./restart-backoff.js";

/** A drained worker that has not exited by then is killed. */
const DRAIN_LIMIT_MS = 30_000;
const REPORT_INTERVAL_MS = 2_000;

/** A router token for this run: in memory only, handed to the workers over IPC. */
export function runRouterToken(): string {
  return randomBytes(32).toString("base64url");
}

export interface WorkerPoolOptions {
  count: number;
  token: string;
  /** The data-plane address every worker listens on (node:cluster shares it). */
  listen: ListenAddress;
  dataDir: string;
  log: Logger;
  clock?: Clock;
}

interface Slot {
  index: number;
  id: string;
  worker: Worker | undefined;
  startedAt: number;
  /** The address it said it serves on, in its current life. */
  serving: string | undefined;
}

export class WorkerPool {
  readonly #o: WorkerPoolOptions & { clock: Clock };
  readonly #slots: Slot[];
  readonly #backoff: RestartBackoff;
  #control = "";
  #stopping = false;
  #ready = false;
  /** Set when a worker fails before the pool was ever ready: the start fails with it. */
  #startFailure: Error | undefined;

  constructor(opts: WorkerPoolOptions) {
    this.#o = { clock: systemClock, ...opts };
    this.#backoff = new RestartBackoff({ clock: this.#o.clock });
    // Stable across restarts of a worker and of the primary (like `aviary router`'s
    // <hostname>-<listen port>), so a restarted worker takes its predecessor's place in the
    // fleet instead of leaving a router expected forever.
    const base = `${hostname()}-${opts.listen.port}`;
    this.#slots = Array.from({ length: opts.count }, (_, i) => ({
      index: i + 1,
      id: `${base}-w${i + 1}`,
      worker: undefined,
      startedAt: 0,
      serving: undefined,
    }));
  }

  /** The ids the workers report under. */
  get ids(): string[] {
    return this.#slots.map((s) => s.id);
  }

  /** Forks every worker, to follow the admin API at `admin`. */
  fork(admin: ListenAddress): void {
    this.#control = `http://${formatListenAddress(loopbackOf(admin))}`;
    // Round-robin (the primary accepts and hands connections out in turn) is Node's default
    // on Linux; it is set anyway, since the alternative (every worker accepting on the shared
    // socket) leaves the kernel to pick, which on Linux piles most connections on one or two
    // busy workers and would not use every core.
    cluster.schedulingPolicy = cluster.SCHED_RR;
    const here = fileURLToPath(import.meta.url);
    cluster.setupPrimary({
      exec: join(here, "..", here.endsWith(".ts") ? "worker.ts" : "worker.js"),
      args: [],
    });
    for (const slot of this.#slots) this.#fork(slot);
  }

  /**
   * Resolves with the address the workers serve on once each of them serves the current state
   * (its report names the revision of every service the fleet state has); rejects when one
   * exits or fails before that.
   */
  async ready(aviary: RunningAviary): Promise<string> {
    const fleet = aviary.fleet;
    if (fleet === undefined) throw new Error("serve --workers runs the fleet's control plane");
    let lastSaid = this.#o.clock.now();
    for (;;) {
      if (this.#startFailure !== undefined) throw this.#startFailure;
      if (this.#slots.every((s) => s.serving !== undefined)) {
        const [state, reports] = await Promise.all([
          fleet.traffic.board.read(),
          aviary.store.routerReports(),
        ]);
        const byId = new Map(reports.map((r) => [r.router, r]));
        const current = this.#slots.every((slot) => {
          const r = byId.get(slot.id);
          return (
            r !== undefined &&
            !isFinal(r) &&
            state.services.every((s) => r.served[s.spec.name]?.revision === s.revision)
          );
        });
        if (current) break;
      }
      if (this.#o.clock.now() - lastSaid >= 10_000) {
        lastSaid = this.#o.clock.now();
        this.#o.log.info(
          { serving: this.#slots.filter((s) => s.serving !== undefined).map((s) => s.index) },
          "waiting for every worker to serve the current state",
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    this.#ready = true;
    return this.#slots[0]?.serving ?? formatListenAddress(this.#o.listen);
  }

  /** Every worker's pid, by index (undefined while one is being restarted). */
  pids(): Array<number | undefined> {
    return this.#slots.map((s) => s.worker?.process.pid);
  }

  /** Drains every worker (each says it is leaving in its last report) and waits for them. */
  async drain(): Promise<void> {
    this.#stopping = true;
    const exits = this.#slots.map(async (slot) => {
      const w = slot.worker;
      if (w === undefined || w.isDead()) return;
      const gone = new Promise<void>((r) => w.once("exit", () => r()));
      const drain: ToWorker = { kind: "aviary.worker.drain" };
      try {
        w.send(drain);
      } catch {
        w.process.kill("SIGTERM");
      }
      const timer = setTimeout(() => {
        this.#o.log.warn({ worker: slot.index }, "worker did not drain in time; killed");
        w.process.kill("SIGKILL");
      }, DRAIN_LIMIT_MS);
      await gone;
      clearTimeout(timer);
    });
    await Promise.all(exits);
  }

  #fork(slot: Slot): void {
    const worker = cluster.fork();
    slot.worker = worker;
    slot.startedAt = this.#o.clock.now();
    slot.serving = undefined;
    const sendStart = () => {
      const start: StartMessage = {
        kind: "aviary.worker.start",
        index: slot.index,
        id: slot.id,
        control: this.#control,
        token: this.#o.token,
        listen: { host: this.#o.listen.host, port: this.#o.listen.port },
        dataDir: join(this.#o.dataDir, "workers", String(slot.index)),
        reportIntervalMs: REPORT_INTERVAL_MS,
      };
      worker.send(start);
    };
    worker.on("message", (m: unknown) => {
      if (isMessage(m, "aviary.worker.hello")) sendStart();
      else if (isMessage<ServingMessage>(m, "aviary.worker.serving")) {
        slot.serving = m.listen;
        if (this.#ready)
          this.#o.log.info(
            { worker: slot.index, pid: worker.process.pid, id: slot.id },
            "worker serving",
          );
      } else if (isMessage<FailedMessage>(m, "aviary.worker.failed") && !this.#ready)
        this.#startFailure = startFailure(slot.index, m);
    });
    worker.on("exit", (code, signal) => {
      if (slot.worker === worker) slot.worker = undefined;
      if (this.#stopping) return;
      if (!this.#ready) {
        this.#startFailure ??= new Error(
          `worker ${slot.index} exited before serving (${signal ?? `code ${code}`})`,
        );
        return;
      }
      const wait = this.#backoff.delayAfterExit(slot.index, slot.startedAt);
      this.#o.log.warn(
        {
          worker: slot.index,
          pid: worker.process.pid,
          ...(signal ? { signal } : { code }),
          restartInMs: wait,
        },
        "worker exited; restarting it (the other workers serve its share meanwhile)",
      );
      this.#o.clock.setTimeout(() => {
        if (!this.#stopping) this.#fork(slot);
      }, wait);
    });
  }
}

/**
 * Why the start fails. A worker that could not bind the data-plane address gives an error
 * shaped as Node's own bind error, so that `serve` says it in the one line it uses for its
 * own listeners ("cannot listen on ... for the data plane (listen): ..."), not a restart loop.
 */
function startFailure(index: number, m: FailedMessage): Error {
  if (m.bind === undefined) return new Error(`worker ${index}: ${m.problem}`);
  return Object.assign(new Error(m.problem), { syscall: "listen", ...m.bind });
}

/** Where a worker reaches the admin API: a wildcard address is reached on loopback. */
function loopbackOf(a: ListenAddress): ListenAddress {
  if (a.host === "0.0.0.0") return { host: "127.0.0.1", port: a.port };
  if (a.host === "::") return { host: "::1", port: a.port };
  return a;
}
