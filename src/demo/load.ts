/**
 * The demo's traffic: a steady stream of requests from a fixed population of users, a share
 * of whom are beta testers (they send `user-type: beta-tester`), paced at a target rate with
 * a bounded number in flight. It counts what the users saw, per version (from the sample
 * service's `x-version` header): requests, failures (5xx or no answer) and latency, overall
 * and over the last few seconds.
 *
 * @module
 */

import { Pool } from "undici";

export interface LoadOptions {
  /** The router's base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  path: string;
  /** Requests per second. */
  rate: number;
  users: number;
  /** Share of users (0-1) who are beta testers. */
  betaShare: number;
  /** Most requests in flight at once; beyond it a tick's sends are skipped and counted. */
  maxInFlight?: number;
  /**
   * What a response is counted under; by default its version (`x-version`). The flag chapter
   * counts by version and checkout, to show who saw the new checkout's errors.
   */
  labelOf?: (headers: Record<string, string | string[] | undefined>) => string;
}

const byVersion = (h: Record<string, string | string[] | undefined>) =>
  String(h["x-version"] ?? "(router)");

export interface VersionCounts {
  requests: number;
  failed: number;
  /** Sum of latencies in ms, for the mean. */
  latencyMsSum: number;
  latenciesMs: number[];
}

/** Latencies kept per version and second for the recent window's percentiles. */
const RECENT_SECONDS = 10;

export class LoadGenerator {
  readonly #opts: Required<LoadOptions>;
  readonly #pool: Pool;
  readonly #total = new Map<string, VersionCounts>();
  /** Per second (epoch s) → version → counts, the last RECENT_SECONDS seconds. */
  readonly #recent = new Map<number, Map<string, VersionCounts>>();
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #skipped = 0;
  #noAnswer = 0;
  #next = 0;
  #idle: Array<() => void> = [];

  constructor(opts: LoadOptions) {
    this.#opts = { maxInFlight: 64, labelOf: byVersion, ...opts };
    this.#pool = new Pool(opts.url, { connections: 16 });
  }

  start(): void {
    const perTick = this.#opts.rate / 20;
    let owed = 0;
    this.#timer = setInterval(() => {
      owed += perTick;
      for (; owed >= 1; owed--) this.#send();
    }, 50);
  }

  /** Stops sending and waits for what is in flight. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    await this.#pool.close();
  }

  /** What every version served since the start. */
  totals(): Map<string, VersionCounts> {
    return this.#total;
  }

  /** Requests that got no answer at all (not counted under any version). */
  get noAnswer(): number {
    return this.#noAnswer;
  }

  /** Sends skipped because too many were in flight (the router or a version was slow). */
  get skipped(): number {
    return this.#skipped;
  }

  /** Per version over the last `seconds` whole seconds. */
  recent(seconds = 5, now = Date.now()): Map<string, VersionCounts> {
    const out = new Map<string, VersionCounts>();
    const last = Math.floor(now / 1000) - 1;
    for (let s = last - seconds + 1; s <= last; s++) {
      for (const [version, c] of this.#recent.get(s) ?? []) add(out, version, c);
    }
    return out;
  }

  #send(): void {
    if (this.#inFlight >= this.#opts.maxInFlight) {
      this.#skipped++;
      return;
    }
    const n = this.#next++;
    const user = (n * 7919) % this.#opts.users;
    const headers: Record<string, string> = { "x-user-id": `user-${user}` };
    if (user < this.#opts.users * this.#opts.betaShare) headers["user-type"] = "beta-tester";
    const started = performance.now();
    this.#inFlight++;
    this.#pool
      .request({ path: this.#opts.path, method: "GET", headers, headersTimeout: 10_000 })
      .then(async (res) => {
        await res.body.dump();
        // An answer without x-version came from the router itself (a 502 or 504).
        const version = this.#opts.labelOf(res.headers);
        this.#count(version, res.statusCode >= 500, performance.now() - started);
      })
      .catch(() => {
        this.#noAnswer++;
      })
      .finally(() => {
        this.#inFlight--;
        if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
      });
  }

  #count(version: string, failed: boolean, ms: number): void {
    const one: VersionCounts = {
      requests: 1,
      failed: failed ? 1 : 0,
      latencyMsSum: ms,
      latenciesMs: [ms],
    };
    add(this.#total, version, { ...one, latenciesMs: [] });
    const second = Math.floor(Date.now() / 1000);
    let bucket = this.#recent.get(second);
    if (bucket === undefined) {
      bucket = new Map();
      this.#recent.set(second, bucket);
      for (const s of this.#recent.keys()) if (s < second - RECENT_SECONDS) this.#recent.delete(s);
    }
    add(bucket, version, one);
  }
}

function add(into: Map<string, VersionCounts>, version: string, c: VersionCounts): void {
  const have = into.get(version);
  if (have === undefined) {
    into.set(version, { ...c, latenciesMs: [...c.latenciesMs] });
    return;
  }
  have.requests += c.requests;
  have.failed += c.failed;
  have.latencyMsSum += c.latencyMsSum;
  for (const ms of c.latenciesMs) have.latenciesMs.push(ms);
}

/** The q-quantile (0-1) of the latencies, or NaN without any. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}
