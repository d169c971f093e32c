/**
 * Sends notification bodies to their endpoints, at least once, in order, without ever making
 * the caller wait.
 *
 * - `enqueue()` returns at once. Each notification (one endpoint) has its own queue and one
 *   worker, so a receiver sees its events one at a time in the order they happened, and a
 *   slow or dead receiver holds up nobody else.
 * - An attempt that fails to connect, times out, or gets 408, 429 or 5xx is retried after a
 *   back-off that doubles from 1 s (±20 % jitter, capped), or after `Retry-After` when the
 *   receiver sends one. Other answers (2xx aside) are final: a 400 will not improve by asking
 *   again. Each attempt is signed afresh (a receiver rejects old timestamps); the delivery id
 *   stays the same, so a receiver that got a delivery whose answer was lost can tell.
 * - A queue holds at most `queueLimit` deliveries; past that the oldest waiting one is dropped
 *   (counted, and logged at most once a minute), so a receiver that is down for long costs
 *   bounded memory. Queues live in memory: what is queued at shutdown is dropped, counted.
 * - Waits go through the injectable Clock; only the per-attempt timeout is real time.
 *
 * Logs name the notification, event, delivery id, attempt and status, never the URL (a chat
 * webhook URL is a credential) nor the secret; network errors are logged by code only, since
 * their messages can contain the address.
 *
 * @module
 */

import { Counter, type Registry } from "prom-client";
import { Agent, request } from "undici";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { outgoingHeaders } from "./headers.js";
import { errorCode } from "./net-error.js";

export interface DeliveryJob {
  /** The notification's name: the queue, the log field and the metric label. */
  notification: string;
  /** Never logged. */
  url: string;
  /** The announced event name (`X-Aviary-Event`). */
  event: string;
  deliveryId: string;
  /** The JSON text sent as is (and signed). */
  body: string;
  secret?: string | undefined;
  /** One attempt's time limit. */
  timeoutMs: number;
  /** Attempts after the first. */
  retries: number;
  /**
   * Called once when the delivery is over, whatever its outcome (delivered, failed, dropped):
   * the notification cursor moves past an event only when all its deliveries are.
   */
  settled?: (() => void) | undefined;
}

export interface DelivererOptions {
  clock: Clock;
  log: Logger;
  /** Where `aviary_notifications_total` is registered, if anywhere. */
  registry?: Registry | undefined;
  /** Waiting deliveries per notification before the oldest is dropped. */
  queueLimit?: number | undefined;
  /** The first retry's delay; each later one doubles it. */
  baseDelayMs?: number | undefined;
  maxDelayMs?: number | undefined;
  /** The most a `Retry-After` is honoured for, so one answer cannot stall a queue for days. */
  maxRetryAfterMs?: number | undefined;
  /** In [0, 1); drives the jitter (tests pin it). */
  random?: (() => number) | undefined;
  /** How long `close()` waits for attempts in flight before cutting them off (real time). */
  closeTimeoutMs?: number | undefined;
}

export interface NotificationStats {
  delivered: number;
  failed: number;
  dropped: number;
  /** Deliveries waiting, not counting the one being attempted. */
  queued: number;
  /** Whether a delivery is being attempted or waiting to be retried. */
  busy: boolean;
}

type Outcome = "delivered" | "failed" | "dropped";

interface Queue {
  name: string;
  waiting: DeliveryJob[];
  busy: boolean;
  lastDropWarning: number;
  counts: Record<Outcome, number>;
}

type AttemptResult =
  | { kind: "ok"; status: number }
  | { kind: "final"; status: number }
  | { kind: "retry"; status: number | null; error?: string; retryAfterMs?: number };

const DROP_WARNING_EVERY_MS = 60_000;

/** Milliseconds a `Retry-After` value asks for (delay-seconds or an HTTP date), if it says. */
export function retryAfterMs(
  value: string | string[] | undefined,
  now: number,
): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (v === undefined || v === "") return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const COUNTER_NAME = "aviary_notifications_total";

/**
 * The registry's notification counter, made on first use. A notifier restarted in the same
 * process (new notifications applied) keeps counting on the same series, as a counter should,
 * instead of failing on a second registration.
 */
function notificationCounter(registry: Registry): Counter<"notification" | "outcome"> {
  const existing = registry.getSingleMetric(COUNTER_NAME);
  if (existing instanceof Counter) return existing as Counter<"notification" | "outcome">;
  return new Counter({
    name: COUNTER_NAME,
    help: "Notification deliveries by outcome: delivered, failed (retries exhausted or refused), dropped (queue full or shutdown), skipped (the event was too old when this instance came to it).",
    labelNames: ["notification", "outcome"],
    registers: [registry],
  });
}

export class Deliverer {
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #queueLimit: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #random: () => number;
  readonly #closeTimeoutMs: number;
  readonly #counter: Counter<"notification" | "outcome"> | undefined;
  readonly #agent = new Agent({ keepAliveTimeout: 10_000 });
  readonly #stop = new AbortController();
  readonly #queues = new Map<string, Queue>();
  readonly #workers = new Set<Promise<void>>();
  readonly #sleeps = new Set<{ handle: TimerHandle; wake: () => void }>();
  #closing: Promise<void> | undefined;

  constructor(opts: DelivererOptions) {
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#queueLimit = opts.queueLimit ?? 1000;
    this.#baseDelayMs = opts.baseDelayMs ?? 1000;
    this.#maxDelayMs = opts.maxDelayMs ?? 5 * 60_000;
    this.#maxRetryAfterMs = opts.maxRetryAfterMs ?? 15 * 60_000;
    this.#random = opts.random ?? Math.random;
    this.#closeTimeoutMs = opts.closeTimeoutMs ?? 5_000;
    if (this.#queueLimit < 1) throw new RangeError("queueLimit must be at least 1");
    this.#counter = opts.registry === undefined ? undefined : notificationCounter(opts.registry);
  }

  /** Makes a notification known, so its counters show (at zero) before anything happens. */
  track(notification: string): void {
    this.#queue(notification);
  }

  /** Queues a delivery and returns at once. */
  enqueue(job: DeliveryJob): void {
    const q = this.#queue(job.notification);
    if (this.#closing !== undefined) {
      this.#end(q, job, "dropped");
      return;
    }
    if (q.waiting.length >= this.#queueLimit) {
      const dropped = q.waiting.shift() as DeliveryJob;
      this.#end(q, dropped, "dropped");
      const now = this.#clock.now();
      if (now - q.lastDropWarning >= DROP_WARNING_EVERY_MS) {
        q.lastDropWarning = now;
        this.#log.warn(
          {
            notification: q.name,
            event: dropped.event,
            delivery: dropped.deliveryId,
            dropped: q.counts.dropped,
            queueLimit: this.#queueLimit,
          },
          "notification queue full: dropped the oldest waiting delivery (is the receiver down?)",
        );
      }
    }
    q.waiting.push(job);
    if (!q.busy) this.#startWorker(q);
  }

  stats(): Record<string, NotificationStats> {
    const out: Record<string, NotificationStats> = {};
    for (const q of this.#queues.values()) {
      out[q.name] = { ...q.counts, queued: q.waiting.length, busy: q.busy };
    }
    return out;
  }

  /**
   * Stops: cancels back-off waits, drops what is queued (counted), gives attempts in flight
   * up to `closeTimeoutMs` to finish, then cuts them off. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    for (const s of this.#sleeps) {
      s.handle.cancel();
      s.wake();
    }
    this.#sleeps.clear();
    for (const q of this.#queues.values()) {
      if (q.waiting.length === 0) continue;
      this.#log.warn(
        { notification: q.name, dropped: q.waiting.length },
        "shutting down: queued notification deliveries dropped",
      );
      const dropped = q.waiting;
      q.waiting = [];
      for (const job of dropped) this.#end(q, job, "dropped");
    }
    const workers = Promise.allSettled([...this.#workers]);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#closeTimeoutMs);
    });
    await Promise.race([workers, bound]);
    clearTimeout(timer);
    this.#stop.abort();
    await workers;
    await this.#agent.close();
  }

  #queue(name: string): Queue {
    let q = this.#queues.get(name);
    if (q === undefined) {
      q = {
        name,
        waiting: [],
        busy: false,
        lastDropWarning: Number.NEGATIVE_INFINITY,
        counts: { delivered: 0, failed: 0, dropped: 0 },
      };
      this.#queues.set(name, q);
      for (const outcome of ["delivered", "failed", "dropped"] as const)
        this.#counter?.inc({ notification: name, outcome }, 0);
    }
    return q;
  }

  /**
   * Counts events not sent because they were too old when this instance came to them (see
   * `catchUpHorizonMs` in notifier.ts), as `outcome="skipped"`.
   */
  countSkipped(notification: string, n: number): void {
    this.#counter?.inc({ notification, outcome: "skipped" }, n);
  }

  #count(q: Queue, outcome: Outcome): void {
    q.counts[outcome]++;
    this.#counter?.inc({ notification: q.name, outcome });
  }

  /** The job is over: counted, and its owner told. */
  #end(q: Queue, job: DeliveryJob, outcome: Outcome): void {
    this.#count(q, outcome);
    try {
      job.settled?.();
    } catch (err) {
      this.#log.error({ err: String(err), delivery: job.deliveryId }, "a delivery's owner failed");
    }
  }

  #startWorker(q: Queue): void {
    q.busy = true;
    const worker = this.#drain(q).finally(() => {
      q.busy = false;
      this.#workers.delete(worker);
    });
    this.#workers.add(worker);
  }

  async #drain(q: Queue): Promise<void> {
    for (;;) {
      const job = q.waiting.shift();
      if (job === undefined) return;
      if (this.#closing !== undefined) {
        this.#end(q, job, "dropped");
        return;
      }
      await this.#deliver(q, job);
    }
  }

  async #deliver(q: Queue, job: DeliveryJob): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const result = await this.#attempt(job);
      const fields = {
        notification: job.notification,
        event: job.event,
        delivery: job.deliveryId,
        attempt,
        status: result.status,
        ...(result.kind === "retry" && result.error !== undefined ? { error: result.error } : {}),
      };
      if (result.kind === "ok") {
        this.#end(q, job, "delivered");
        this.#log.debug(fields, "notification delivered");
        return;
      }
      if (this.#closing !== undefined) {
        this.#end(q, job, "dropped");
        this.#log.warn(fields, "shutting down: notification delivery abandoned");
        return;
      }
      if (result.kind === "final" || attempt > job.retries) {
        this.#end(q, job, "failed");
        this.#log.warn(
          fields,
          result.kind === "final"
            ? "notification refused by its receiver; not retried"
            : `notification delivery failed after ${attempt} attempts; giving up`,
        );
        return;
      }
      const delayMs =
        result.retryAfterMs !== undefined
          ? Math.min(result.retryAfterMs, this.#maxRetryAfterMs)
          : this.#backoff(attempt);
      this.#log.warn({ ...fields, retryInMs: delayMs }, "notification delivery failed; will retry");
      await this.#sleep(delayMs);
      if (this.#closing !== undefined) {
        this.#end(q, job, "dropped");
        return;
      }
    }
  }

  /**
   * How long this deliverer may keep trying one delivery of `retries` retries: every attempt
   * timing out, every back-off at its longest (a `Retry-After` aside).
   */
  retryHorizonMs(retries: number, timeoutMs: number): number {
    let waits = 0;
    for (let attempt = 1; attempt <= retries; attempt++) {
      waits += Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.min(attempt - 1, 30) * 1.2);
    }
    return Math.round(waits + (retries + 1) * timeoutMs);
  }

  /** The wait after failed attempt n (1-based): base · 2^(n-1), ±20 %, capped. */
  #backoff(attempt: number): number {
    const plain = this.#baseDelayMs * 2 ** Math.min(attempt - 1, 30);
    const jittered = plain * (0.8 + 0.4 * this.#random());
    return Math.round(Math.min(this.#maxDelayMs, jittered));
  }

  async #attempt(job: DeliveryJob): Promise<AttemptResult> {
    const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(job.timeoutMs)]);
    const now = this.#clock.now();
    try {
      const res = await request(job.url, {
        method: "POST",
        dispatcher: this.#agent,
        headers: outgoingHeaders({
          event: job.event,
          deliveryId: job.deliveryId,
          body: job.body,
          secret: job.secret,
          now,
        }),
        body: job.body,
        signal,
        headersTimeout: job.timeoutMs,
        bodyTimeout: job.timeoutMs,
      });
      const status = res.statusCode;
      // The answer's body is not used, but must be read for the connection to be reused.
      await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      if (status >= 200 && status < 300) return { kind: "ok", status };
      if (status === 408 || status === 429 || status >= 500) {
        const after = retryAfterMs(res.headers["retry-after"], now);
        return after === undefined
          ? { kind: "retry", status }
          : { kind: "retry", status, retryAfterMs: after };
      }
      return { kind: "final", status };
    } catch (err) {
      return { kind: "retry", status: null, error: errorCode(err) };
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        handle: this.#clock.setTimeout(() => {
          this.#sleeps.delete(entry);
          resolve();
        }, ms),
        wake: resolve,
      };
      this.#sleeps.add(entry);
    });
  }
}
