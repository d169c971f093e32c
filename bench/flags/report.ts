/**
 * The human report (a table of medians over the rounds, each round's req/s, the ratio and the
 * goals) and the `--json` object.
 *
 * @module
 */

import os from "node:os";
import { median, round } from "../proxy/stats.js";
import type { InProcessResult } from "./in-process.js";
import type { LoadRun } from "./load.js";

/** A load run and the server's CPU time (user + system, its process tree) per request. */
export interface MeasuredRun extends LoadRun {
  cpuUsPerReq: number;
}

export interface TargetResult {
  name: "ofrep" | "ofrepBulk" | "unleashProxy";
  label: string;
  runs: MeasuredRun[];
}

export interface FlagsReport {
  results: TargetResult[];
  /** Through the Node provider (`aviary/openfeature`), following the run's Aviary. */
  inProcess: InProcessResult;
  /** The compiled evaluator alone, for comparison. */
  evaluator: InProcessResult;
  errors: string[];
  rounds: number;
  durationS: number;
  connections: number;
  pinned: boolean;
  /** The 1-minute load average when the measured rounds began (2 = both cores busy). */
  loadAverage: number;
  peer: { package: string; version: string };
}

interface Figures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerReq: number;
}

function figures(t: TargetResult | undefined): Figures | null {
  if (t === undefined || t.runs.length === 0) return null;
  return {
    rps: median(t.runs.map((r) => r.rps)),
    p50Ms: median(t.runs.map((r) => r.p50Ms)),
    p99Ms: median(t.runs.map((r) => r.p99Ms)),
    cpuUsPerReq: median(t.runs.map((r) => r.cpuUsPerReq)),
  };
}

function ratio(r: FlagsReport): number | null {
  const ofrep = figures(r.results.find((t) => t.name === "ofrep"));
  const peer = figures(r.results.find((t) => t.name === "unleashProxy"));
  return ofrep && peer ? ofrep.rps / peer.rps : null;
}

/**
 * The peer's CPU per request over OFREP's (> 1: OFREP is cheaper). It moves much less than
 * req/s when other work shares the cores, since it does not count the time a server waited.
 */
function cpuRatio(r: FlagsReport): number | null {
  const ofrep = figures(r.results.find((t) => t.name === "ofrep"));
  const peer = figures(r.results.find((t) => t.name === "unleashProxy"));
  return ofrep && peer ? peer.cpuUsPerReq / ofrep.cpuUsPerReq : null;
}

const pad = (s: string, n: number): string => s.padEnd(n);
const left = (s: string, n: number): string => s.padStart(n);

export function printReport(r: FlagsReport, say: (line: string) => void): void {
  say("");
  say(
    `flag evaluation over HTTP: wrk -t1 -c${r.connections}, medians of ${r.rounds} run(s) × ${r.durationS} s` +
      (r.pinned ? " (servers on CPU1, wrk on CPU0)" : " (not pinned)") +
      `; load average ${r.loadAverage.toFixed(1)} on ${os.cpus().length} cores when the rounds began`,
  );
  say(
    `${pad("target", 24)}${left("req/s", 9)}${left("p50 ms", 9)}${left("p99 ms", 9)}${left("CPU µs/req", 12)}  runs (req/s)`,
  );
  for (const t of r.results) {
    const f = figures(t);
    if (f === null) continue;
    const each = t.runs.map((x) => Math.round(x.rps)).join(", ");
    const bad = t.runs.reduce((s, x) => s + x.bad + x.non2xx + x.socketErrors, 0);
    say(
      `${pad(t.label, 24)}${left(String(Math.round(f.rps)), 9)}${left(f.p50Ms.toFixed(2), 9)}${left(f.p99Ms.toFixed(2), 9)}${left(f.cpuUsPerReq.toFixed(1), 12)}  ${each}${bad > 0 ? `  ERRORS: ${bad}` : ""}`,
    );
  }
  const x = ratio(r);
  say("");
  say(`OFREP single / Unleash proxy req/s: ${x === null ? "—" : `${x.toFixed(2)}×`} (goal ≥ 1)`);
  const c = cpuRatio(r);
  say(`Unleash proxy / OFREP single CPU per request: ${c === null ? "—" : `${c.toFixed(2)}×`}`);
  const ip = r.inProcess;
  say(
    `in-process evaluation through the Node provider (${ip.contexts} distinct keys, exposures counted): ${ip.nsPerEvaluation.toFixed(1)} ns (goal ≤ 1000; runs ${ip.runs.map((n) => n.toFixed(1)).join(", ")})`,
  );
  say(`  the compiled evaluator alone: ${r.evaluator.nsPerEvaluation.toFixed(1)} ns`);
  if (r.errors.length > 0) {
    say("");
    say(`ERRORS (the figures above are not valid for these targets):`);
    for (const e of r.errors) say(`  ${e}`);
  }
}

export function toJson(r: FlagsReport) {
  const pick = (name: TargetResult["name"]) => {
    const f = figures(r.results.find((t) => t.name === name));
    return f === null ? null : { rps: round(f.rps, 0), p99Ms: round(f.p99Ms, 3) };
  };
  return {
    ofrep: pick("ofrep"),
    ofrepBulk: pick("ofrepBulk"),
    unleashProxy: pick("unleashProxy"),
    inProcessNs: round(r.inProcess.nsPerEvaluation, 1),
    evaluatorNs: round(r.evaluator.nsPerEvaluation, 1),
    ratios: {
      ofrepVsUnleashProxy: round(ratio(r), 2),
      unleashProxyVsOfrepCpuPerReq: round(cpuRatio(r), 2),
    },
    cpuUsPerReq: Object.fromEntries(
      r.results.map((t) => [t.name, round(figures(t)?.cpuUsPerReq ?? null, 1)]),
    ),
    runs: Object.fromEntries(r.results.map((t) => [t.name, t.runs.map((x) => round(x.rps, 0))])),
    peer: { ...r.peer, how: "HTTP GET /proxy, toggles bootstrapped offline" },
    loadAverage: round(r.loadAverage, 1),
    errors: r.errors,
  };
}
