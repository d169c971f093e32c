/**
 * The data plane's status (`dataplane` on a service, "recorded, not yet applied to ..." in a
 * rollout's reason) on every instance, not only the leader's.
 *
 * Only the leader knows it: its convergence loop applies each service's traffic and reads back
 * what the engine serves. So the leader records each service's status in the store, and the
 * API of a follower reads it from there, marked with when and by whom it was recorded.
 *
 * Why the store and not the fleet's router reports: the reports exist only with
 * `dataplane.engine: fleet`, and they say what each router serves, not what the leader makes of
 * it (an apply that failed and is retried, a drift, a split that does not match the weight, an
 * engine that cannot be read back). With HAProxy, nginx or the embedded router there are no
 * reports at all, and a follower would still show nothing. The status is the leader's verdict,
 * so the leader writes it, for every engine alike.
 *
 * Writes stay cheap: the statuses are compared in memory every tick, and only those that
 * changed are written, in one fenced transaction (nothing while all is quiet; one row when a
 * service's status moves; a retry's attempt count moves at most once per back-off). A new term
 * writes every status once, so a follower never shows a former leader's view as the current
 * one's for long.
 *
 * @module
 */

import type { TrafficStatus } from "../rollout/convergence.js";
import type { Store, TrafficStatusRecord } from "../store/store.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";

/** A service's data-plane status as the API shows it, on the leader and on followers. */
export type ShownTrafficStatus = TrafficStatus & {
  /** When the leader recorded it (ms); null when this instance leads and answers live. */
  recordedAt: number | null;
  /** The leader that recorded it (this instance, when live). */
  recordedBy: string;
};

export interface TrafficStatusPublisherOptions {
  /** The leader's store, fenced with its epoch. */
  store: Pick<Store, "transaction">;
  /** The leader's statuses now (Controller.trafficStatuses). */
  statuses: () => ReadonlyMap<string, TrafficStatus>;
  /** This instance, recorded with each status. */
  instance: string;
  /** The rollouts' clock: `recordedAt` is on the same clock as the status' `since`. */
  clock: Clock;
  /** The compare-and-write period's timer (real time). */
  timer: Clock;
  everyMs: number;
  log: Logger;
}

export class TrafficStatusPublisher {
  readonly #opts: TrafficStatusPublisherOptions;
  /** What the store holds, as written by this term: service → the status' JSON. */
  readonly #written = new Map<string, string>();
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(opts: TrafficStatusPublisherOptions) {
    this.#opts = opts;
  }

  start(): void {
    this.#schedule(0);
  }

  /** Writes what changed since the last sync; one sync at a time. */
  sync(): Promise<void> {
    this.#running ??= this.#sync().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#running;
  }

  async #sync(): Promise<void> {
    if (this.#stopped) return;
    const now = this.#opts.clock.now();
    const statuses = this.#opts.statuses();
    const puts: Array<{ record: TrafficStatusRecord; text: string }> = [];
    for (const [service, status] of statuses) {
      const text = JSON.stringify(status);
      if (this.#written.get(service) === text) continue;
      puts.push({
        record: {
          service,
          status: { ...status },
          recordedAt: now,
          recordedBy: this.#opts.instance,
        },
        text,
      });
    }
    const gone = [...this.#written.keys()].filter((s) => !statuses.has(s));
    if (puts.length === 0 && gone.length === 0) return;
    try {
      await this.#opts.store.transaction(async (tx) => {
        for (const p of puts) await tx.putTrafficStatus(p.record);
        for (const service of gone) await tx.deleteTrafficStatus(service);
      });
    } catch (err) {
      // The next tick tries again (a fenced refusal ends the term through the fence watcher).
      this.#opts.log.warn({ err: String(err) }, "could not record the data plane's status");
      return;
    }
    for (const p of puts) this.#written.set(p.record.service, p.text);
    for (const service of gone) this.#written.delete(service);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#opts.timer.setTimeout(() => {
      this.sync()
        .catch((err: unknown) =>
          this.#opts.log.error({ err: String(err) }, "recording the data plane's status failed"),
        )
        .finally(() => this.#schedule(this.#opts.everyMs));
    }, ms);
  }
}

/** A status read from the store, as the API shows it; undefined for one that does not parse. */
export function shownFromStore(record: TrafficStatusRecord): ShownTrafficStatus | undefined {
  const s = record.status as Partial<TrafficStatus>;
  if (typeof s.engine !== "string" || typeof s.applied !== "boolean") return undefined;
  return {
    engine: s.engine,
    applied: s.applied,
    why: typeof s.why === "string" ? s.why : undefined,
    since: typeof s.since === "number" ? s.since : record.recordedAt,
    attempts: typeof s.attempts === "number" ? s.attempts : 0,
    recordedAt: record.recordedAt,
    recordedBy: record.recordedBy,
  };
}
