/**
 * Feeds an instance's {@link EventHub} from the store: the history table is the truth, and
 * every instance (leader or follower) publishes every committed event and measurement exactly
 * once, in seq order, by reading what was committed after the last seq it published.
 *
 * Woken by the store's change notices (another instance committed: Postgres NOTIFY, SQLite's
 * data version), by `poke()` right after a local commit, and by a fallback poll (a notice can be
 * lost while the listening connection reconnects). One read runs at a time; a wake-up during a
 * read makes one more read after it, so nothing committed is left unread.
 *
 * @module
 */

import type { RolloutEvent } from "../rollout/types.js";
import type { AnalysisRunRecord, MeasurementRecord, Store } from "../store/store.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import type { EventHub } from "./hub.js";

export interface StoreTailOptions {
  store: Pick<Store, "eventsAfter" | "measurementsAfter" | "getAnalysisRun" | "onChange">;
  hub: EventHub;
  clock: Clock;
  log: Logger;
  /** The fallback poll; default 1 s. */
  pollMs?: number;
}

/** Rows read per query. */
const PAGE = 500;

export class StoreTail {
  readonly #opts: StoreTailOptions;
  #eventSeq = 0;
  #measurementSeq = 0;
  #running = false;
  #again = false;
  #closed = false;
  #timer: TimerHandle | undefined;
  #unsubscribe: (() => void) | undefined;
  /** Run id → its rollout and service (a measurement names only its run). */
  readonly #runs = new Map<string, Pick<AnalysisRunRecord, "rolloutId" | "service">>();
  #idle: Promise<void> = Promise.resolve();

  constructor(opts: StoreTailOptions) {
    this.#opts = opts;
  }

  /** The last event seq published. */
  get eventSeq(): number {
    return this.#eventSeq;
  }

  /**
   * Starts after what is stored now: history committed before this instance started is the
   * replay's (`Last-Event-ID`), not news.
   */
  async start(): Promise<void> {
    this.#eventSeq = await lastSeq((after) => this.#opts.store.eventsAfter(after, 10_000));
    this.#measurementSeq = await lastSeq((after) =>
      this.#opts.store.measurementsAfter(after, 10_000),
    );
    this.#unsubscribe = this.#opts.store.onChange((what) => {
      // Router reports carry nothing for the hub; anything else may come with events.
      if (what !== "reports") this.poke();
    });
    this.#schedulePoll();
  }

  /** Something was committed (here or elsewhere): read and publish it soon. */
  poke(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#idle = this.#loop();
  }

  /** Resolves when no read is running (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.#running) await this.#idle;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    this.#unsubscribe?.();
    await this.#idle;
  }

  async #loop(): Promise<void> {
    try {
      do {
        this.#again = false;
        try {
          await this.#readEvents();
          await this.#readMeasurements();
        } catch (err) {
          // The poll tries again; nothing was skipped (the seqs only move past what was published).
          this.#opts.log.warn({ err: String(err) }, "reading the event tail failed; will retry");
          break;
        }
      } while (this.#again && !this.#closed);
    } finally {
      this.#running = false;
    }
  }

  async #readEvents(): Promise<void> {
    for (;;) {
      const page: RolloutEvent[] = await this.#opts.store.eventsAfter(this.#eventSeq, PAGE);
      for (const event of page) {
        if (this.#closed) return;
        if (event.seq <= this.#eventSeq) continue;
        this.#eventSeq = event.seq;
        this.#opts.hub.publish({ kind: "event", event });
      }
      if (page.length < PAGE) return;
    }
  }

  async #readMeasurements(): Promise<void> {
    for (;;) {
      const page: MeasurementRecord[] = await this.#opts.store.measurementsAfter(
        this.#measurementSeq,
        PAGE,
      );
      for (const m of page) {
        if (this.#closed) return;
        if (m.seq <= this.#measurementSeq) continue;
        const run = await this.#runOf(m.runId);
        this.#measurementSeq = m.seq;
        if (run === undefined) continue;
        this.#opts.hub.publish({
          kind: "measurement",
          service: run.service,
          rolloutId: run.rolloutId,
          runId: m.runId,
          measurement: m,
        });
      }
      if (page.length < PAGE) return;
    }
  }

  async #runOf(id: string): Promise<Pick<AnalysisRunRecord, "rolloutId" | "service"> | undefined> {
    const known = this.#runs.get(id);
    if (known !== undefined) return known;
    const run = await this.#opts.store.getAnalysisRun(id);
    if (run === undefined) return undefined;
    const entry = { rolloutId: run.rolloutId, service: run.service };
    // Runs are few per rollout; keep the recent ones only.
    if (this.#runs.size >= 1_000) this.#runs.clear();
    this.#runs.set(id, entry);
    return entry;
  }

  #schedulePoll(): void {
    if (this.#closed) return;
    this.#timer = this.#opts.clock.setTimeout(() => {
      this.poke();
      this.#schedulePoll();
    }, this.#opts.pollMs ?? 1_000);
  }
}

/** The highest seq stored, read page by page (once, at start). */
async function lastSeq(read: (after: number) => Promise<Array<{ seq: number }>>): Promise<number> {
  let seq = 0;
  for (;;) {
    const page = await read(seq);
    if (page.length === 0) return seq;
    seq = page[page.length - 1]?.seq ?? seq;
    if (page.length < 10_000) return seq;
  }
}
