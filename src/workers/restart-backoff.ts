/**
 * How long `serve --workers` waits before restarting a worker that exited. A worker that had
 * been up for a while is restarted at once (one crash, its port share is back in moments); one
 * that keeps dying soon after its start waits longer each time, doubling up to a ceiling, so a
 * crash loop (a bad upstream certificate, a full disk) costs a line in the log now and then
 * instead of a core spinning on forks.
 *
 * @module
 */

import type { Clock } from "../util/clock.js";

export interface RestartBackoffOptions {
  clock: Clock;
  /** The wait after the second quick exit in a row; doubled after each further one. */
  baseMs?: number;
  /** The longest wait. */
  maxMs?: number;
  /** A worker that lived this long before exiting counts as healthy: its count starts over. */
  healthyAfterMs?: number;
}

export class RestartBackoff {
  readonly #clock: Clock;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #healthyAfterMs: number;
  /** Quick exits in a row, per worker. */
  readonly #quick = new Map<number, number>();

  constructor(opts: RestartBackoffOptions) {
    this.#clock = opts.clock;
    this.#baseMs = opts.baseMs ?? 500;
    this.#maxMs = opts.maxMs ?? 30_000;
    this.#healthyAfterMs = opts.healthyAfterMs ?? 10_000;
  }

  /** The wait before restarting worker `index`, which started at `startedAt` and just exited. */
  delayAfterExit(index: number, startedAt: number): number {
    const lived = this.#clock.now() - startedAt;
    const quick = lived >= this.#healthyAfterMs ? 0 : (this.#quick.get(index) ?? 0) + 1;
    this.#quick.set(index, quick);
    if (quick <= 1) return 0;
    return Math.min(this.#maxMs, this.#baseMs * 2 ** (quick - 2));
  }
}
