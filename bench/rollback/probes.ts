/**
 * What bench:rollback reads and drives: the admin REST API (one keep-alive connection, bearer
 * token), the canary upstream's arrival clock (`/__last`, `/__now` of a tracking upstream) and
 * Aviary's log lines on its stderr.
 *
 * All times are epoch milliseconds in high resolution: `performance.timeOrigin +
 * performance.now()`, the clock the upstream stamps arrivals with ({@link nowMs}).
 *
 * @module
 */

import { performance } from "node:perf_hooks";
import { Client } from "undici";
import type { Proc } from "../proxy/procs.js";
import { median } from "../proxy/stats.js";

/** Now, on the epoch clock in high resolution (the same clock the tracking upstream uses). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ApiReply {
  status: number;
  body: unknown;
  /** From just before the request was handed to undici until its body had been read. */
  ms: number;
  sentAt: number;
}

/** The admin API over one keep-alive connection. */
export class AdminApi {
  readonly #client: Client;
  readonly #token: string;

  constructor(origin: string, token: string) {
    this.#client = new Client(origin, { pipelining: 1 });
    this.#token = token;
  }

  async call(method: "GET" | "POST", path: string, body?: unknown): Promise<ApiReply> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const payload = body === undefined ? null : JSON.stringify(body);
    const sentAt = nowMs();
    const res = await this.#client.request({
      method,
      path,
      headers,
      body: payload,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await res.body.text();
    const ms = nowMs() - sentAt;
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.statusCode, body: parsed, ms, sentAt };
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

export interface Arrivals {
  /** Requests the upstream has served. */
  count: number;
  /** When the last of them arrived, on the upstream's clock. */
  lastAt: number;
}

/** The canary upstream's arrival clock. */
export class ArrivalWatch {
  readonly #client: Client;
  /** Upstream clock minus ours, from {@link calibrate}. */
  offsetMs = 0;

  constructor(origin: string) {
    this.#client = new Client(origin, { pipelining: 1 });
  }

  async #get(path: string): Promise<unknown> {
    const res = await this.#client.request({
      method: "GET",
      path,
      headersTimeout: 5_000,
      bodyTimeout: 5_000,
    });
    return JSON.parse(await res.body.text());
  }

  async last(): Promise<Arrivals> {
    return (await this.#get("/__last")) as Arrivals;
  }

  /**
   * Estimates the upstream's clock minus ours from `n` round trips (NTP style: the remote
   * reading against the midpoint of the round trip, from the fastest fifth of the trips).
   */
  async calibrate(n = 40): Promise<{ offsetMs: number; rttMs: number }> {
    const samples: Array<{ offset: number; rtt: number }> = [];
    for (let i = 0; i < n; i++) {
      const t0 = nowMs();
      const { now } = (await this.#get("/__now")) as { now: number };
      const t1 = nowMs();
      samples.push({ offset: now - (t0 + t1) / 2, rtt: t1 - t0 });
    }
    samples.sort((a, b) => a.rtt - b.rtt);
    const best = samples.slice(0, Math.max(1, Math.floor(n / 5)));
    this.offsetMs = median(best.map((s) => s.offset));
    return { offsetMs: this.offsetMs, rttMs: median(best.map((s) => s.rtt)) };
  }

  /** Converts an upstream timestamp to our clock. */
  local(at: number): number {
    return at - this.offsetMs;
  }

  /**
   * Waits until the canary is being served: at least `minNew` more requests and `dwellMs`
   * since the call. Throws after `timeoutMs`.
   */
  async waitFlowing(minNew = 100, dwellMs = 300, timeoutMs = 5_000): Promise<void> {
    const start = performance.now();
    const first = await this.last();
    for (;;) {
      const elapsed = performance.now() - start;
      const a = await this.last();
      if (a.count - first.count >= minNew && elapsed >= dwellMs) return;
      if (elapsed > timeoutMs) {
        throw new Error(
          `the canary got ${a.count - first.count} requests in ${timeoutMs} ms: it is not being served`,
        );
      }
      await sleep(20);
    }
  }

  /**
   * Waits until the canary has received nothing for `quietMs`, and returns its last arrival;
   * `settled` is false if it was still receiving after `timeoutMs`.
   */
  async settle(quietMs = 300, timeoutMs = 5_000): Promise<Arrivals & { settled: boolean }> {
    const start = performance.now();
    let a = await this.last();
    let changedAt = performance.now();
    for (;;) {
      await sleep(20);
      const b = await this.last();
      const now = performance.now();
      if (b.count !== a.count) {
        a = b;
        changedAt = now;
      } else if (now - changedAt >= quietMs) return { ...a, settled: true };
      if (now - start > timeoutMs) return { ...a, settled: false };
    }
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

/** Watches a process's stderr for log lines containing a text, noting when each was seen. */
export class LogWatch {
  #partial = "";
  #waiters: Array<{ texts: string[]; resolve: (r: { at: number; line: string }) => void }> = [];

  constructor(proc: Proc) {
    proc.child.stderr?.on("data", (chunk: string | Buffer) => {
      const at = nowMs();
      const lines = (this.#partial + chunk.toString()).split("\n");
      this.#partial = lines.pop() ?? "";
      for (const line of lines) {
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.texts.some((t) => line.includes(t))) return true;
          w.resolve({ at, line });
          return false;
        });
      }
    });
  }

  /**
   * Resolves with the first line from now on that contains one of `texts`; rejects after
   * `timeoutMs`. Callers that may never await it need not handle the rejection (it is marked
   * handled here), and its timer does not keep the process alive.
   */
  next(texts: string[], timeoutMs = 10_000): Promise<{ at: number; line: string }> {
    const p = new Promise<{ at: number; line: string }>((resolve, reject) => {
      const waiter = {
        texts,
        resolve: (r: { at: number; line: string }) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no log line with ${texts.join(" or ")} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.#waiters.push(waiter);
    });
    p.catch(() => {});
    return p;
  }
}
