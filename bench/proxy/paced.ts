/**
 * Paced (open-loop) load generator for the fixed-rate latency measurement: sends requests on
 * a fixed schedule (`--rate` per second) with undici, whatever the answers do, each with a
 * random `x-user-id`, and prints one JSON line with latency percentiles (ms). Latency runs
 * from the moment a request is handed to undici until its body has ended; how late the sends
 * were against the schedule (the generator's own timer slack) is reported separately as lag.
 * The first `--warmup` seconds are sent but not recorded.
 * Usage: node --import tsx bench/proxy/paced.ts --url URL --rate N --duration S --warmup S
 *
 * @module
 */

import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { ChildArgs } from "./child-args.js";
import { PACED_MARK, type PacedResult } from "./fixed-rate.js";
import { percentileSorted } from "./stats.js";

const args = new ChildArgs();
const url = new URL(args.text("url"));
const rate = args.number("rate");
const durationS = args.number("duration");
const warmupS = args.number("warmup");
const pool = new Pool(url.origin, { connections: 32, pipelining: 1 });
const path = url.pathname + url.search;
const interval = 1000 / rate;
const skip = Math.round(rate * warmupS);
const total = skip + Math.round(rate * durationS);
const latency = new Float64Array(total - skip);
const lag = new Float64Array(total - skip);
let non2xx = 0;
let errors = 0;
let finished = 0;
let allDone!: () => void;
const done = new Promise<void>((resolve) => {
  allDone = resolve;
});

const fire = (i: number, due: number): void => {
  const sentAt = performance.now();
  const headers = { "x-user-id": `user-${1 + Math.floor(Math.random() * 1_000_000)}` };
  pool
    .request({ method: "GET", path, headers })
    .then(async ({ statusCode, body }) => {
      await body.dump();
      if (i >= skip) {
        latency[i - skip] = performance.now() - sentAt;
        lag[i - skip] = sentAt - due;
      }
      if (statusCode < 200 || statusCode > 299) non2xx++;
    })
    .catch(() => {
      errors++;
      if (i >= skip) latency[i - skip] = Number.POSITIVE_INFINITY;
    })
    .finally(() => {
      if (++finished === total) allDone();
    });
};

const start = performance.now() + 20;
let sent = 0;
const tick = (): void => {
  const now = performance.now();
  const due = Math.min(total, Math.floor((now - start) / interval) + 1);
  for (; sent < due; sent++) fire(sent, start + sent * interval);
  if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
};
setTimeout(tick, 20);
await done;
await pool.close();

latency.sort();
lag.sort();
const ms = (v: number): number => Math.round(v * 1000) / 1000;
const result: PacedResult = {
  sent: total,
  recorded: latency.length,
  ratePerS: Math.round(latency.length / durationS),
  p50Ms: ms(percentileSorted(latency, 50)),
  p90Ms: ms(percentileSorted(latency, 90)),
  p99Ms: ms(percentileSorted(latency, 99)),
  p999Ms: ms(percentileSorted(latency, 99.9)),
  maxMs: ms(latency[latency.length - 1] ?? Number.NaN),
  lagP99Ms: ms(percentileSorted(lag, 99)),
  non2xx,
  errors,
};
process.stdout.write(`${PACED_MARK}${JSON.stringify(result)}\n`);
