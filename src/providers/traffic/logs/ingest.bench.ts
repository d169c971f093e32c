/**
 * Cost of one access-log datagram in the listener's message callback: syslog header, line,
 * recorder call, for each frame layout the engines send; and, beside it, the recorder call
 * alone, measured in the same run. The median of a few repetitions of a million calls each.
 * Run: node --import tsx src/providers/traffic/logs/ingest.bench.ts
 *
 * @module
 */

import { MetricsRegistry } from "../../../dataplane/metrics/registry.js";
import { parseLine } from "./line.js";
import { parseSyslog } from "./syslog.js";

const CALLS = 1_000_000;
const REPS = 5;
const LINE = "aviary1 svc=checkout ver=v2 role=canary st=200";

const FRAMES: Record<string, Buffer> = {
  "haproxy rfc3164": Buffer.from(`<134>Dec  5 11:57:30 haproxy[8782]: ${LINE} ms=12\n`),
  "haproxy rfc5424": Buffer.from(
    `<142>1 2026-12-05T11:57:30.014264+00:00 vm haproxy 8782 - - ${LINE} ms=12\n`,
  ),
  "nginx rfc3164": Buffer.from(`<190>Dec  5 11:57:12 vm nginx: ${LINE} sec=0.012`),
};

const recorder = new MetricsRegistry().recorder("checkout", "v2", "canary");

function nsPerCall(run: () => void): number {
  const times: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) run();
    times.push(Number(process.hrtime.bigint() - start) / CALLS);
  }
  return times.sort((a, b) => a - b)[REPS >> 1] as number;
}

const recordOnly = nsPerCall(() => recorder.response(200, 12));
console.log(`recorder.response alone: ${recordOnly.toFixed(0)} ns`);
for (const [name, frame] of Object.entries(FRAMES)) {
  const ns = nsPerCall(() => {
    const s = parseSyslog(frame);
    if (!s.ok) throw new Error(s.reason);
    const l = parseLine(s.body);
    if (!l.ok) throw new Error(l.reason);
    recorder.response(l.entry.status, l.entry.latencyMs);
  });
  console.log(
    `${name}: ${ns.toFixed(0)} ns per datagram (parse + record), ${(1e9 / ns / 1000).toFixed(0)}k datagrams/s on one core`,
  );
}
