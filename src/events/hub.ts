/**
 * The in-process fan-out of everything that happens: committed history events and analysis
 * measurements. The SSE stream, the webhooks and the dashboard subscribe here; publishers
 * (the controller, the analysis runner) never wait for subscribers, and a subscriber that
 * throws is logged and kept away from the others.
 *
 * @module
 */

import type { RolloutEvent } from "../rollout/types.js";
import type { MeasurementRecord } from "../store/store.js";

export type HubMessage =
  | { kind: "event"; event: RolloutEvent }
  | {
      kind: "measurement";
      service: string;
      rolloutId: string;
      runId: string;
      measurement: MeasurementRecord;
    };

export type Subscriber = (message: HubMessage) => void;

export class EventHub {
  readonly #subscribers = new Set<Subscriber>();
  readonly #onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void = () => {}) {
    this.#onError = onError;
  }

  /** Adds a subscriber; returns the function that removes it. */
  subscribe(fn: Subscriber): () => void {
    this.#subscribers.add(fn);
    return () => {
      this.#subscribers.delete(fn);
    };
  }

  publish(message: HubMessage): void {
    for (const fn of this.#subscribers) {
      try {
        fn(message);
      } catch (err) {
        this.#onError(err);
      }
    }
  }

  get size(): number {
    return this.#subscribers.size;
  }
}
