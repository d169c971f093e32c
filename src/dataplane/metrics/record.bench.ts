/**
 * Cost of one `Recorder.response()` call on the proxy's hot path, next to prom-client's
 * `Histogram.observe` on a pre-bound labels child, measured in the same run.
 * Run: node --import tsx src/dataplane/metrics/record.bench.ts
 *
 * @module
 */

import { Histogram, Registry } from "prom-client";
import { MetricsRegistry } from "./registry.js";

const CALLS = 1_000_000;
const REPS = 5;

// Pre-drawn lognormal latencies (median ~20 ms) and mostly-2xx statuses, so the loop measures
// recording rather than the random generator. 4096 is a power of two: the index is a mask.
const N = 4096;
const latencies = new Float64Array(N);
const statuses = new Int32Array(N);
for (let i = 0; i < N; i++) {
  const u = 1 - Math.random();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
  latencies[i] = Math.exp(Math.log(20) + 0.8 * z);
  statuses[i] = Math.random() < 0.01 ? 503 : Math.random() < 0.05 ? 404 : 200;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function time(run: (calls: number) => void): number {
  const t0 = process.hrtime.bigint();
  run(CALLS);
  return Number(process.hrtime.bigint() - t0) / CALLS;
}

/**
 * Median ns per call of each contestant over REPS runs of CALLS calls, after one warm-up run.
 * Runs alternate between contestants so a noisy neighbour slows them alike.
 */
function measure(contestants: Array<(calls: number) => void>): number[] {
  for (const run of contestants) run(CALLS);
  const ns = contestants.map((): number[] => []);
  for (let r = 0; r < REPS; r++) {
    for (const [i, run] of contestants.entries()) ns[i]!.push(time(run));
  }
  return ns.map(median);
}

const metrics = new MetricsRegistry();
const recorder = metrics.recorder("checkout", "v1.3.0", "canary");
const histogram = new Histogram({
  name: "peer_request_duration_seconds",
  help: "peer",
  labelNames: ["service", "version", "role"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [new Registry()],
});
const child = histogram.labels("checkout", "v1.3.0", "canary");
let sink = 0;

const [ours, peer, clock] = measure([
  (calls) => {
    for (let i = 0; i < calls; i++)
      recorder.response(statuses[i & (N - 1)]!, latencies[i & (N - 1)]!);
  },
  (calls) => {
    for (let i = 0; i < calls; i++) child.observe(latencies[i & (N - 1)]! / 1000);
  },
  // Each response() reads the clock once; this is that floor on this machine.
  (calls) => {
    for (let i = 0; i < calls; i++) sink += Date.now();
  },
]) as [number, number, number];

const fmt = (x: number) => x.toFixed(1).padStart(7);
console.log(`node ${process.version}, ${CALLS} calls x ${REPS} reps (median), ns per call`);
console.log(`${fmt(ours)}  MetricsRegistry recorder.response(status, ms)`);
console.log(`${fmt(peer)}  prom-client Histogram.labels(...).observe(s)  (peer)`);
console.log(`${fmt(peer / ours)}x peer / ours`);
console.log(`${fmt(clock)}  Date.now() alone, included in ours (systemClock.now)`);
if (sink === 0) console.log("");
