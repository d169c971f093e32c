/**
 * Asks the hooks of the gates a rollout waits at (and its rollback gates) on each gate's
 * interval, one call per gate at a time, and hands every answer to the controller, which
 * decides under the service's lock whether it still applies. Hooks are I/O the state machine
 * never does itself.
 *
 * @module
 */

import type { Gate } from "../spec/schema.js";
import type { Clock } from "../util/clock.js";
import { parseDuration } from "../util/duration.js";
import type { Logger } from "../util/log.js";
import { gateKey, hasHook, pendingGates, rollbackGates } from "./gates.js";
import type { GatePoint, Rollout } from "./types.js";

/** What a gate's hook is sent. */
export interface GatePayload {
  name: string;
  type: Gate["type"];
  service: string;
  rolloutId: string;
  phase: Rollout["phase"];
  stable: string;
  canary: string;
  weight: number;
  stepIndex: number;
  metadata: Record<string, string>;
}

/** A hook's answer: 2xx opens the gate; anything else (or no answer) does not. */
export interface GateAnswer {
  open: boolean;
  status: number | null;
  message: string;
}

export type GateCaller = (
  gate: Gate,
  payload: GatePayload,
  signal: AbortSignal,
) => Promise<GateAnswer>;

/** Where an answer applies: the point the rollout waits at, or "rollback" for a rollback gate. */
export type AskedAt = GatePoint | "rollback";

export interface GateAnswerEvent {
  rollout: Rollout;
  gate: Gate;
  at: AskedAt;
  answer: GateAnswer;
  /** Answers in a row that did not open the gate, this one included. */
  failures: number;
}

interface Ask {
  lastAt: number;
  inFlight: AbortController | null;
  failures: number;
}

export function payloadFor(r: Rollout, gate: Gate): GatePayload {
  return {
    name: gate.name,
    type: gate.type,
    service: r.service,
    rolloutId: r.id,
    phase: r.phase,
    stable: r.stable.version,
    canary: r.canary.version,
    weight: r.traffic.canary === null ? 0 : r.traffic.weight,
    stepIndex: r.stepIndex,
    metadata: gate.metadata,
  };
}

export class GatePoller {
  readonly #caller: GateCaller | undefined;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #onAnswer: (e: GateAnswerEvent) => void;
  readonly #asks = new Map<string, Ask>();
  readonly #warned = new Set<string>();
  #closed = false;

  constructor(opts: {
    caller: GateCaller | undefined;
    clock: Clock;
    log: Logger;
    onAnswer: (e: GateAnswerEvent) => void;
  }) {
    this.#caller = opts.caller;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#onAnswer = opts.onAnswer;
  }

  /** Asks every hook of `r` that is due. Cheap when nothing is: call it on every tick. */
  poll(r: Rollout): void {
    if (this.#closed || r.finishedAt !== null) return;
    const waiting = r.gates.waiting;
    if (waiting !== null && r.pausedAt === null) {
      for (const g of pendingGates(r, waiting.point))
        if (hasHook(g)) this.#ask(r, g, waiting.point);
    }
    for (const g of rollbackGates(r)) if (hasHook(g)) this.#ask(r, g, "rollback");
  }

  /** Drops what is kept about a finished rollout's gates. */
  forget(rolloutId: string): void {
    for (const [key, ask] of this.#asks) {
      if (!key.startsWith(`${rolloutId}/`)) continue;
      ask.inFlight?.abort();
      this.#asks.delete(key);
    }
  }

  close(): void {
    this.#closed = true;
    for (const ask of this.#asks.values()) ask.inFlight?.abort();
    this.#asks.clear();
  }

  #ask(r: Rollout, gate: Gate, at: AskedAt): void {
    const key = `${r.id}/${gateKey(gate.name, at as GatePoint)}`;
    const caller = this.#caller;
    if (caller === undefined) {
      if (!this.#warned.has(key)) {
        this.#warned.add(key);
        this.#log.warn(
          { service: r.service, gate: gate.name },
          "this controller cannot call gate hooks; the gate opens only through the API",
        );
      }
      return;
    }
    const now = this.#clock.now();
    let ask = this.#asks.get(key);
    if (ask?.inFlight) return;
    if (ask !== undefined && now < ask.lastAt + intervalMs(gate)) return;
    if (ask === undefined) {
      ask = { lastAt: now, inFlight: null, failures: 0 };
      this.#asks.set(key, ask);
    }
    const entry = ask;
    entry.lastAt = now;
    const controller = new AbortController();
    entry.inFlight = controller;
    caller(gate, payloadFor(r, gate), controller.signal)
      .catch((err: unknown) => ({ open: false, status: null, message: String(err) }))
      .then((answer) => {
        entry.inFlight = null;
        if (this.#closed || controller.signal.aborted) return;
        entry.failures = answer.open ? 0 : entry.failures + 1;
        this.#onAnswer({ rollout: r, gate, at, answer, failures: entry.failures });
      });
  }
}

function intervalMs(gate: Gate): number {
  return parseDuration(gate.interval) ?? 10_000;
}
