/**
 * The live feed: `GET /api/v1/stream` read with `fetch()` (EventSource cannot send the bearer
 * token), parsed by {@link SseParser}, and kept open. When the stream ends, fails or goes
 * quiet for longer than three heartbeats, it reconnects after a growing, jittered delay with
 * `Last-Event-ID`, so the server replays what was missed. A token the server no longer knows
 * stops it for good (the user must sign in again), as does an unknown service.
 *
 * @module
 */

import { isAbort, type MeasurementMessage, problemError, type RolloutEvent } from "./api.js";
import { SseParser } from "./sse.js";

export type StreamStatus =
  | { kind: "connecting" }
  /** `resumed`: this connection follows a dropped one (what was missed may need re-reading). */
  | { kind: "live"; resumed: boolean }
  | { kind: "reconnecting"; inMs: number; why: string }
  /** The server refused the token (401): sign in again. */
  | { kind: "unauthorized"; detail: string }
  /** A refusal retrying cannot fix (an unknown service). */
  | { kind: "failed"; detail: string }
  | { kind: "closed" };

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface EventStreamOptions {
  /** `/api/v1/stream` with its query. */
  url: string;
  token(): string | null;
  /** Replay what came after this seq first (the last one the page already has). */
  lastEventId?: string;
  onEvent(event: RolloutEvent): void;
  onMeasurement?(m: MeasurementMessage): void;
  onStatus?(status: StreamStatus): void;
  fetch?: typeof fetch;
  timers?: Timers;
  random?: () => number;
  /** Silence after which the connection is presumed dead (default 45 s: three heartbeats). */
  idleTimeoutMs?: number;
}

/** The longest wait between two attempts. */
export const MAX_BACKOFF_MS = 30_000;
/** The first wait, until the server's `retry:` says otherwise. */
export const BASE_BACKOFF_MS = 1_000;

/** Doubling from `baseMs` per failed attempt, capped, ±20 % so clients do not reconnect in step. */
export function backoffDelay(attempt: number, baseMs: number, random: () => number): number {
  const raw = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(raw * (0.8 + 0.4 * random()));
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export class EventStream {
  readonly #opts: EventStreamOptions;
  readonly #fetch: typeof fetch;
  readonly #timers: Timers;
  readonly #random: () => number;
  readonly #idleMs: number;
  #lastEventId: string;
  #attempt = 0;
  #baseMs = BASE_BACKOFF_MS;
  #everLive = false;
  #closed = false;
  #abort: AbortController | undefined;
  #retryTimer: unknown;
  #idleTimer: unknown;

  constructor(opts: EventStreamOptions) {
    this.#opts = opts;
    this.#fetch = opts.fetch ?? ((input, init) => fetch(input, init));
    this.#timers = opts.timers ?? realTimers;
    this.#random = opts.random ?? Math.random;
    this.#idleMs = opts.idleTimeoutMs ?? 45_000;
    this.#lastEventId = opts.lastEventId ?? "";
  }

  /** The seq of the last event received (what a reconnection asks to replay after). */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  start(): void {
    void this.#connect();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort?.abort();
    this.#timers.clearTimeout(this.#retryTimer);
    this.#timers.clearTimeout(this.#idleTimer);
    this.#status({ kind: "closed" });
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    this.#status({ kind: "connecting" });
    const abort = new AbortController();
    this.#abort = abort;
    const headers: Record<string, string> = { accept: "text/event-stream" };
    const token = this.#opts.token();
    if (token !== null && token !== "") headers.authorization = `Bearer ${token}`;
    if (this.#lastEventId !== "") headers["last-event-id"] = this.#lastEventId;
    let res: Response;
    try {
      res = await this.#fetch(this.#opts.url, {
        headers,
        cache: "no-store",
        signal: abort.signal,
      });
    } catch (err) {
      if (this.#closed) return;
      this.#retry(isAbort(err) ? "no answer" : "cannot reach the server");
      return;
    }
    if (this.#closed) {
      await res.body?.cancel().catch(() => {});
      return;
    }
    if (!res.ok) {
      const problem = problemError(res, await res.text().catch(() => ""));
      if (res.status === 401) this.#stop({ kind: "unauthorized", detail: problem.detail });
      else if (res.status === 400 || res.status === 403 || res.status === 404)
        this.#stop({ kind: "failed", detail: problem.detail });
      else this.#retry(problem.detail);
      return;
    }
    if (res.body === null) {
      this.#retry("the server sent no stream");
      return;
    }
    this.#attempt = 0;
    this.#status({ kind: "live", resumed: this.#everLive });
    this.#everLive = true;
    await this.#read(res.body, abort);
    if (!this.#closed) this.#retry("the stream ended");
  }

  async #read(body: ReadableStream<Uint8Array>, abort: AbortController): Promise<void> {
    const parser = new SseParser({
      message: (m) => this.#dispatch(m.event, m.data, m.lastEventId),
      retry: (ms) => {
        this.#baseMs = Math.max(100, ms);
      },
    });
    const reader = body.getReader();
    const decoder = new TextDecoder();
    this.#armIdle(abort);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.#armIdle(abort);
        parser.push(decoder.decode(value, { stream: true }));
      }
      parser.push(decoder.decode());
    } catch {
      // Aborted (closed, or idle too long) or cut: either way the connection is over.
    } finally {
      this.#timers.clearTimeout(this.#idleTimer);
      parser.end();
    }
  }

  #dispatch(event: string, data: string, lastEventId: string): void {
    if (this.#closed) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return; // Not ours to guess at; the next message is independent.
    }
    if (event === "rollout-event") {
      if (lastEventId !== "") this.#lastEventId = lastEventId;
      this.#opts.onEvent(parsed as RolloutEvent);
    } else if (event === "measurement") {
      this.#opts.onMeasurement?.(parsed as MeasurementMessage);
    }
  }

  #armIdle(abort: AbortController): void {
    this.#timers.clearTimeout(this.#idleTimer);
    this.#idleTimer = this.#timers.setTimeout(() => abort.abort(), this.#idleMs);
  }

  #retry(why: string): void {
    if (this.#closed) return;
    const inMs = backoffDelay(this.#attempt++, this.#baseMs, this.#random);
    this.#status({ kind: "reconnecting", inMs, why });
    this.#retryTimer = this.#timers.setTimeout(() => void this.#connect(), inMs);
  }

  #stop(status: StreamStatus): void {
    this.#closed = true;
    this.#status(status);
  }

  #status(s: StreamStatus): void {
    this.#opts.onStatus?.(s);
  }
}
