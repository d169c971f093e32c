/**
 * The latency-at-fixed-rate measurement: runs {@link ./paced.ts} (Node + undici, open loop,
 * pinned with the upstreams on CPU0) against one target and reads its JSON line. wrk2 is not
 * in Debian and plain wrk cannot hold a rate; the generator's own cost shows up in the direct
 * row, which is measured with the same generator.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { launch, tail } from "./procs.js";

export const PACED_MARK = "AVIARY_PACED ";

export interface PacedResult {
  sent: number;
  recorded: number;
  ratePerS: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** How late sends left against the schedule, p99: the generator's own timer slack. */
  lagP99Ms: number;
  non2xx: number;
  errors: number;
}

const PACED_SCRIPT = fileURLToPath(new URL("./paced.ts", import.meta.url));

export interface PacedOptions {
  url: string;
  rate: number;
  durationS: number;
  warmupS: number;
  cpu: number;
}

export async function runPaced(o: PacedOptions): Promise<PacedResult> {
  const args = ["--import", "tsx", PACED_SCRIPT, "--url", o.url, "--rate", String(o.rate)];
  args.push("--duration", String(o.durationS), "--warmup", String(o.warmupS));
  const proc = launch("paced", process.execPath, args, { cpu: o.cpu });
  const code = await proc.exited;
  const line = proc.stdout.split("\n").find((l) => l.startsWith(PACED_MARK));
  if (code !== 0 || line === undefined) {
    const why = proc.stderr.match(/^\w*Error.*$/m)?.[0] ?? tail(proc.stderr);
    throw new Error(`paced generator failed (exit ${code}): ${why}`);
  }
  // JSON turns an infinite latency (a failed request) into null.
  const raw = JSON.parse(line.slice(PACED_MARK.length)) as Record<keyof PacedResult, number | null>;
  const out = {} as PacedResult;
  for (const [k, v] of Object.entries(raw)) {
    out[k as keyof PacedResult] = v ?? Number.POSITIVE_INFINITY;
  }
  return out;
}
