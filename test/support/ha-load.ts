/**
 * Steady load through the front, and the upstreams that answer it. The load is a fixed rate of
 * GET requests over a few keep-alive connections (an open loop: a request is sent on schedule
 * whether or not the previous ones answered, up to a cap in flight), so a stall shows up as
 * failures or lateness instead of as fewer requests. Every answer is counted by the version
 * that sent it (the upstream's `x-upstream` header); anything but a 2xx, or no answer, is a
 * failure, kept with its time and reason for the report.
 *
 * @module
 */

import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";

export interface TestUpstream {
  name: string;
  url: string;
  /** Requests answered so far. */
  count(): number;
  close(): Promise<void>;
}

/** An upstream that answers 200 `name` with `x-upstream: name`, keep-alive. */
export async function startTestUpstream(name: string): Promise<TestUpstream> {
  let served = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      served += 1;
      res.writeHead(200, { "content-type": "text/plain", "x-upstream": name });
      res.end(name);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    count: () => served,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface LoadFailure {
  /** ms since the load started. */
  at: number;
  why: string;
}

export interface LoadCounts {
  sent: number;
  ok: number;
  failed: number;
  /** Answers per version (`x-upstream`), 2xx only. */
  byVersion: Record<string, number>;
  /** Sends skipped because `maxInFlight` requests were still out (the target stalls). */
  skipped: number;
  failures: LoadFailure[];
}

export interface Load {
  counts(): LoadCounts;
  /** Counts since `mark` (a previous `counts()`), for one phase of a test. */
  since(mark: LoadCounts): LoadCounts;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<LoadCounts>;
}

export interface LoadOptions {
  url: string;
  /** Requests per second (default 100). */
  rate?: number;
  /** Keep-alive connections (default 4). */
  connections?: number;
  /** Per request: no answer within this is a failure (default 10 s). */
  timeoutMs?: number;
  maxInFlight?: number;
  path?: string;
}

/** Starts sending at once; call `stop()` to end. */
export function startLoad(opts: LoadOptions): Load {
  const rate = opts.rate ?? 100;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxInFlight = opts.maxInFlight ?? 200;
  const pool = new Pool(opts.url, {
    connections: opts.connections ?? 4,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const started = performance.now();
  const c: LoadCounts = { sent: 0, ok: 0, failed: 0, byVersion: {}, skipped: 0, failures: [] };
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  const fail = (why: string) => {
    c.failed += 1;
    if (c.failures.length < 1_000)
      c.failures.push({ at: Math.round(performance.now() - started), why });
  };
  const one = async () => {
    inFlight += 1;
    c.sent += 1;
    try {
      const res = await pool.request({
        method: "GET",
        path: opts.path ?? "/",
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await res.body.text();
      if (res.statusCode >= 200 && res.statusCode < 300) {
        c.ok += 1;
        const v = String(res.headers["x-upstream"] ?? "unknown");
        c.byVersion[v] = (c.byVersion[v] ?? 0) + 1;
      } else fail(`${res.statusCode} ${body.slice(0, 120)}`);
    } catch (err) {
      fail((err as Error).message);
    } finally {
      inFlight -= 1;
    }
  };
  // Sends on schedule: every tick, as many as the rate says are due by now.
  let due = 0;
  const timer = setInterval(() => {
    const shouldHave = Math.floor(((performance.now() - started) / 1_000) * rate);
    while (due < shouldHave) {
      due += 1;
      if (inFlight >= maxInFlight) {
        c.skipped += 1;
        continue;
      }
      const p = one();
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
  }, 10);
  const snapshot = (): LoadCounts => ({
    ...c,
    byVersion: { ...c.byVersion },
    failures: [...c.failures],
  });
  return {
    counts: snapshot,
    since(mark) {
      const byVersion: Record<string, number> = {};
      for (const [k, v] of Object.entries(c.byVersion)) byVersion[k] = v - (mark.byVersion[k] ?? 0);
      return {
        sent: c.sent - mark.sent,
        ok: c.ok - mark.ok,
        failed: c.failed - mark.failed,
        skipped: c.skipped - mark.skipped,
        byVersion,
        failures: c.failures.slice(mark.failures.length),
      };
    },
    async stop() {
      clearInterval(timer);
      await Promise.allSettled([...pending]);
      await pool.close();
      return snapshot();
    },
  };
}
