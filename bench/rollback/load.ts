/**
 * Steady closed-loop load for bench:rollback, like `wrk -t1 -c50` but able to tell which
 * upstream answered: `--connections` workers on one undici pool, each sending GET requests
 * back to back with a random `x-user-id`, alternating over `--paths` (one per service). It
 * counts answers by the upstream that wrote them (the body names it) and every failure: a
 * non-2xx status or a socket error. It runs until SIGTERM (or `--max-seconds`), then prints
 * one line `LOAD {json}` and exits.
 *
 * Usage: node --import tsx bench/rollback/load.ts --url http://127.0.0.1:P --connections 50
 *          --paths /r/,/s/ --max-seconds S
 *
 * @module
 */

import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { ChildArgs } from "../proxy/child-args.js";
import { percentileSorted } from "../proxy/stats.js";
import { LOAD_MARK, type LoadResult } from "./load-result.js";

const args = new ChildArgs();
const url = new URL(args.text("url"));
const connections = args.number("connections");
const paths = args.text("paths").split(",");
const maxSeconds = args.number("max-seconds");

const pool = new Pool(url.origin, { connections, pipelining: 1 });
const out: LoadResult = {
  requests: 0,
  stable: 0,
  canary: 0,
  non2xx: 0,
  errors: 0,
  samples: [],
  seconds: 0,
  p50Ms: 0,
  p99Ms: 0,
  maxMs: 0,
};
// Latencies of answered requests; the first 20 million are kept (about 50 minutes at 7k req/s).
const MAX_SAMPLES = 20_000_000;
let latencies = new Float64Array(1 << 20);
let answered = 0;

function record(ms: number): void {
  if (answered === latencies.length) {
    if (answered >= MAX_SAMPLES) return;
    const bigger = new Float64Array(Math.min(MAX_SAMPLES, latencies.length * 2));
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[answered++] = ms;
}
let stopped = false;
let n = 0;
const t0 = performance.now();

function failed(what: string): void {
  if (out.samples.length < 5) out.samples.push(what);
}

async function worker(): Promise<void> {
  while (!stopped) {
    const i = n++;
    const path = `${paths[i % paths.length]}${i}`;
    const headers = { "x-user-id": `user-${1 + Math.floor(Math.random() * 1_000_000)}` };
    const sent = performance.now();
    try {
      const res = await pool.request({ method: "GET", path, headers });
      const text = await res.body.text();
      record(performance.now() - sent);
      out.requests++;
      if (res.statusCode < 200 || res.statusCode > 299) {
        out.non2xx++;
        failed(`HTTP ${res.statusCode} for ${path}: ${text.slice(0, 120)}`);
      } else if (text.includes("canary")) out.canary++;
      else out.stable++;
    } catch (err) {
      out.requests++;
      out.errors++;
      failed(`${path}: ${(err as Error).message}`);
    }
  }
}

const running = Promise.all(Array.from({ length: connections }, worker));
let finishing: Promise<void> | undefined;
const finish = (): Promise<void> => {
  finishing ??= (async () => {
    stopped = true;
    await running;
    out.seconds = (performance.now() - t0) / 1000;
    const sorted = latencies.subarray(0, answered).sort();
    out.p50Ms = percentileSorted(sorted, 50);
    out.p99Ms = percentileSorted(sorted, 99);
    out.maxMs = sorted[sorted.length - 1] ?? 0;
    await pool.close();
    process.stdout.write(`${LOAD_MARK}${JSON.stringify(out)}\n`);
  })();
  return finishing;
};
const cap = setTimeout(() => void finish(), maxSeconds * 1000);
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    clearTimeout(cap);
    void finish().then(() => process.exit(0));
  });
}
await running;
clearTimeout(cap);
await finish();
