/**
 * wrk as the closed-loop load generator: `-t1 -cN` with a Lua script that sets a random
 * `x-user-id` (user-1 … user-1000000) on every request and, when done, prints one line of
 * JSON with the totals and latency percentiles, so nothing is scraped from wrk's text.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { launch, tail } from "./procs.js";

const MARK = "AVIARY_WRK ";

const LUA = `-- Written by bench/proxy/wrk.ts.
math.randomseed(os.time())

request = function()
  return wrk.format(nil, nil, { ["x-user-id"] = "user-" .. math.random(1, 1000000) })
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '${MARK}{"requests":%.0f,"durationUs":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,' ..
    '"status":%.0f,"timeout":%.0f,"p50Us":%.0f,"p90Us":%.0f,"p99Us":%.0f,"maxUs":%.0f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

/** Writes the Lua script into `dir` and returns its path. */
export function writeWrkScript(dir: string): string {
  const path = join(dir, "user-id.lua");
  writeFileSync(path, LUA);
  return path;
}

export interface WrkRun {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Responses with status ≥ 400 (wrk's "Non-2xx or 3xx responses"). */
  non2xx: number;
  /** connect + read + write errors and timeouts. */
  socketErrors: number;
}

export interface WrkOptions {
  wrk: string;
  url: string;
  script: string;
  connections: number;
  durationS: number;
  cpu: number;
}

export async function runWrk(o: WrkOptions): Promise<WrkRun> {
  const args = ["-t1", `-c${o.connections}`, `-d${o.durationS}s`, "-s", o.script, o.url];
  const proc = launch("wrk", o.wrk, args, { cpu: o.cpu });
  const code = await proc.exited;
  const line = proc.stdout.split("\n").find((l) => l.startsWith(MARK));
  if (code !== 0 || line === undefined) {
    throw new Error(`wrk failed (exit ${code}): ${tail(proc.stderr || proc.stdout)}`);
  }
  const r = JSON.parse(line.slice(MARK.length)) as Record<string, number>;
  const n = (k: string): number => r[k] ?? Number.NaN;
  const durationS = n("durationUs") / 1e6;
  return {
    requests: n("requests"),
    durationS,
    rps: n("requests") / durationS,
    p50Ms: n("p50Us") / 1000,
    p90Ms: n("p90Us") / 1000,
    p99Ms: n("p99Us") / 1000,
    maxMs: n("maxUs") / 1000,
    non2xx: n("status"),
    socketErrors: n("connect") + n("read") + n("write") + n("timeout"),
  };
}
