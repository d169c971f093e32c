/**
 * The leader's webhooks, across changes of leader: reads the committed events after the
 * notification cursor from the store, hands them to the notifier in seq order, and moves the
 * cursor (fenced: only the leader writes it) as their deliveries end. A new leader starts from
 * the cursor, so an event committed by a leader that died or stepped down before announcing it
 * is announced by the next one.
 *
 * The cursor is the last seq whose deliveries are all *over* (delivered, refused, given up, or
 * dropped from a full queue), not merely queued: deliveries wait in memory, and a leader that
 * dies with a slow receiver's queue full would otherwise take those events with it. The price is
 * at least once: what was in flight when the old leader died is sent again, under the same
 * delivery id (see `deliveryIdOf`), which receivers de-duplicate on.
 *
 * Woken by every event the instance's hub publishes (`poke`), and by a fallback poll that also
 * retries a read or a cursor write that failed. One read runs at a time; one cursor write runs
 * at a time, always of the newest value.
 *
 * @module
 */

import type { RolloutEvent } from "../rollout/types.js";
import type { Store } from "../store/store.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";

export interface NotificationFeedOptions {
  /** The leader's store, fenced with its epoch: the cursor is written through it. */
  store: Pick<Store, "eventsAfter" | "getNotifyCursor" | "putNotifyCursor">;
  /** Hands an event to delivery; `settled` once its deliveries are over (Notifier.send). */
  send(event: RolloutEvent, settled: () => void): void;
  /**
   * Where to start when no cursor is stored (the first leader ever, or a store from before
   * cursors): the last seq this instance has seen, so the history before it is not announced.
   */
  startAfter(): number;
  clock: Clock;
  log: Logger;
  /** The fallback poll; default 1 s. */
  pollMs?: number;
}

/** Events read per query. */
const PAGE = 200;

/** An event handed to delivery, and whether its deliveries are all over. */
interface Handed {
  seq: number;
  done: boolean;
}

export class NotificationFeed {
  readonly #opts: NotificationFeedOptions;
  /** The last seq handed to delivery. */
  #read = 0;
  /** Events handed whose deliveries are not all over, oldest first. */
  readonly #handed: Handed[] = [];
  /** The last seq whose deliveries are over, with every one before it. */
  #confirmed = 0;
  /** The cursor as stored. */
  #written = 0;
  #writing: Promise<void> | undefined;
  #reading = false;
  #again = false;
  #idle: Promise<void> = Promise.resolve();
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(opts: NotificationFeedOptions) {
    this.#opts = opts;
  }

  /** Reads the cursor (storing one at `startAfter` if there is none), then catches up. */
  async start(): Promise<void> {
    const stored = await this.#opts.store.getNotifyCursor();
    if (stored === undefined) {
      const from = this.#opts.startAfter();
      await this.#opts.store.putNotifyCursor(from, this.#opts.clock.now());
      this.#read = this.#confirmed = this.#written = from;
    } else {
      this.#read = this.#confirmed = this.#written = stored;
      this.#opts.log.info({ cursor: stored }, "notifications resume after the stored cursor");
    }
    this.#schedulePoll();
    this.poke();
  }

  /** Something may have been committed: read it soon. */
  poke(): void {
    if (this.#stopped) return;
    if (this.#reading) {
      this.#again = true;
      return;
    }
    this.#reading = true;
    this.#idle = this.#loop();
  }

  /** Resolves when no read and no cursor write is running (tests). */
  async settled(): Promise<void> {
    while (this.#reading || this.#writing !== undefined) {
      await this.#idle;
      await this.#writing;
    }
  }

  /**
   * Stops reading and writing the cursor: deliveries that end from now on (dropped as the
   * deliverer closes) must not move it, so the next leader sends them.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#idle;
    await this.#writing;
  }

  async #loop(): Promise<void> {
    try {
      do {
        this.#again = false;
        try {
          await this.#readEvents();
        } catch (err) {
          // The poll tries again from the last seq handed: nothing is skipped or handed twice.
          this.#opts.log.warn(
            { err: String(err) },
            "reading events for notifications failed; will retry",
          );
          break;
        }
      } while (this.#again && !this.#stopped);
    } finally {
      this.#reading = false;
    }
  }

  async #readEvents(): Promise<void> {
    for (;;) {
      const page = await this.#opts.store.eventsAfter(this.#read, PAGE);
      for (const event of page) {
        if (this.#stopped) return;
        if (event.seq <= this.#read) continue;
        this.#read = event.seq;
        const handed: Handed = { seq: event.seq, done: false };
        this.#handed.push(handed);
        this.#opts.send(event, () => {
          handed.done = true;
          this.#advance();
        });
      }
      if (page.length < PAGE) return;
    }
  }

  /** Moves the confirmed seq past every leading event whose deliveries are over. */
  #advance(): void {
    if (this.#stopped) return;
    let moved = false;
    while (this.#handed[0]?.done === true) {
      this.#confirmed = (this.#handed.shift() as Handed).seq;
      moved = true;
    }
    if (moved) this.#write();
  }

  /** Stores the confirmed seq: one write at a time, then the newest value if it moved meanwhile. */
  #write(): void {
    if (this.#writing !== undefined || this.#stopped || this.#confirmed <= this.#written) return;
    const seq = this.#confirmed;
    this.#writing = this.#opts.store
      .putNotifyCursor(seq, this.#opts.clock.now())
      .then(
        () => {
          this.#written = Math.max(this.#written, seq);
        },
        (err: unknown) => {
          // A fenced refusal ends the term (the store's fence watcher); anything else, the
          // poll retries. Either way the cursor stays behind: at least once, never lost.
          this.#opts.log.warn(
            { err: String(err), seq },
            "could not store the notification cursor; will retry",
          );
        },
      )
      .finally(() => {
        this.#writing = undefined;
        // After a failure the poll retries, rather than a tight loop against a failing store.
        if (this.#written >= seq) this.#write();
      });
  }

  #schedulePoll(): void {
    if (this.#stopped) return;
    this.#timer = this.#opts.clock.setTimeout(() => {
      this.poke();
      this.#write();
      this.#schedulePoll();
    }, this.#opts.pollMs ?? 1_000);
  }
}
