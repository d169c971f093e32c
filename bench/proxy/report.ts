/**
 * Turns the measured runs into per-target figures, the human report and the `--json` object.
 *
 * @module
 */

import type { PacedResult } from "./fixed-rate.js";
import type { Sample } from "./measure.js";
import { median, round, sum } from "./stats.js";
import { LABELS, type TargetKey } from "./targets.js";
import type { WrkRun } from "./wrk.js";

/** One measured wrk run of one target, with what was read around it. */
export type Run = Sample<WrkRun>;
/** One paced run. */
export type FixedRun = Sample<PacedResult>;

export interface Summary {
  key: TargetKey;
  rps: number;
  roundsRps: number[];
  p50Ms: number;
  p99Ms: number;
  cpuUsPerReq: number | null;
  upstreamCpuUsPerReq: number;
  busy: number[];
  otherCpuPct: number;
  canaryPct: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
}

export function summarize(key: TargetKey, runs: readonly Run[]): Summary {
  const requests = sum(runs.map((r) => r.result.requests));
  const proxyCpu = runs.map((r) => r.proxyCpuS);
  const upstreamTotal = sum(runs.map((r) => r.stable + r.canary));
  const cpus = Math.max(0, ...runs.map((r) => r.busy.length));
  return {
    key,
    rps: median(runs.map((r) => r.result.rps)),
    roundsRps: runs.map((r) => r.result.rps),
    p50Ms: median(runs.map((r) => r.result.p50Ms)),
    p99Ms: median(runs.map((r) => r.result.p99Ms)),
    cpuUsPerReq: proxyCpu.some((c) => c === null)
      ? null
      : (1e6 * sum(proxyCpu as number[])) / requests,
    upstreamCpuUsPerReq: (1e6 * sum(runs.map((r) => r.upstreamCpuS))) / requests,
    busy: Array.from({ length: cpus }, (_, i) => median(runs.map((r) => r.busy[i] ?? 0))),
    otherCpuPct: median(runs.map((r) => r.otherCpuPct)),
    canaryPct: upstreamTotal > 0 ? (100 * sum(runs.map((r) => r.canary))) / upstreamTotal : 0,
    requests,
    non2xx: sum(runs.map((r) => r.result.non2xx)),
    socketErrors: sum(runs.map((r) => r.result.socketErrors)),
  };
}

export interface FixedRateSummary {
  key: TargetKey;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  roundsP99Ms: number[];
  ratePerS: number;
  lagP99Ms: number;
  non2xx: number;
  errors: number;
  otherCpuPct: number;
}

export function summarizeFixedRate(key: TargetKey, samples: readonly FixedRun[]) {
  const runs = samples.map((s) => s.result);
  return {
    key,
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    p999Ms: median(runs.map((r) => r.p999Ms)),
    maxMs: Math.max(...runs.map((r) => r.maxMs)),
    roundsP99Ms: runs.map((r) => r.p99Ms),
    ratePerS: median(runs.map((r) => r.ratePerS)),
    lagP99Ms: median(runs.map((r) => r.lagP99Ms)),
    non2xx: sum(runs.map((r) => r.non2xx)),
    errors: sum(runs.map((r) => r.errors)),
    otherCpuPct: median(samples.map((s) => s.otherCpuPct)),
  } satisfies FixedRateSummary;
}

/** The lead's goals: printed beside the figures, never turned into an exit code. */
export const GOALS = {
  vsFastifyReplyFrom: 1.3,
  vsNodeHttpProxy: 1.7,
  cpuUsPerReq: 40,
  addedP99Ms: 2,
} as const;

export interface Ratios {
  vsDirect: number | null;
  vsNginx: number | null;
  vsFastifyReplyFrom: number | null;
  vsNodeHttpProxy: number | null;
  vsUndiciStream: number | null;
}

export function ratios(by: Map<TargetKey, Summary>): Ratios {
  const aviary = by.get("aviary")?.rps;
  const over = (k: TargetKey): number | null => {
    const peer = by.get(k)?.rps;
    return aviary === undefined || peer === undefined || peer === 0 ? null : aviary / peer;
  };
  return {
    vsDirect: over("direct"),
    vsNginx: over("nginx"),
    vsFastifyReplyFrom: over("fastifyReplyFrom"),
    vsNodeHttpProxy: over("nodeHttpProxy"),
    vsUndiciStream: over("undiciStream"),
  };
}

/** p99 Aviary adds over direct at the fixed rate (difference of the medians of rounds). */
export function addedP99(fixed: Map<TargetKey, FixedRateSummary>, key: TargetKey = "aviary") {
  const t = fixed.get(key)?.p99Ms;
  const d = fixed.get("direct")?.p99Ms;
  return t === undefined || d === undefined ? null : t - d;
}

type PeerFigures = { rps: number | null; p50Ms: number | null; p99Ms: number | null };
type Figures = PeerFigures & { cpuUsPerReq: number | null };

function figures(s: Summary | undefined): Figures | null {
  if (s === undefined) return null;
  return {
    rps: round(s.rps, 0),
    p50Ms: round(s.p50Ms, 3),
    p99Ms: round(s.p99Ms, 3),
    cpuUsPerReq: round(s.cpuUsPerReq, 1),
  };
}

/** The `--json` object, exactly the agreed shape; missing targets are null. */
export function jsonReport(
  by: Map<TargetKey, Summary>,
  fixed: Map<TargetKey, FixedRateSummary>,
): unknown {
  const r = ratios(by);
  return {
    aviary: figures(by.get("aviary")),
    peers: {
      direct: figures(by.get("direct")),
      nginx: figures(by.get("nginx")),
      nodeHttpProxy: figures(by.get("nodeHttpProxy")),
      fastifyReplyFrom: figures(by.get("fastifyReplyFrom")),
      undiciStream: figures(by.get("undiciStream")),
    },
    ratios: {
      vsDirect: round(r.vsDirect, 3),
      vsNginx: round(r.vsNginx, 3),
      vsFastifyReplyFrom: round(r.vsFastifyReplyFrom, 3),
      vsNodeHttpProxy: round(r.vsNodeHttpProxy, 3),
      vsUndiciStream: round(r.vsUndiciStream, 3),
    },
    /** Aviary's CPU per request over the bare undici stream proxy's, in the same run. */
    cpuVsUndiciStream: round(cpuOver(by, "undiciStream"), 3),
    addedP99MsAt1000Rps: round(addedP99(fixed), 3),
  };
}

// ---- human report ----

const num = (v: number | null, digits: number): string =>
  v === null || !Number.isFinite(v) ? "–" : v.toFixed(digits);

function table(head: string[], rows: string[][], rightFrom = 1): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i < rightFrom ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}

/**
 * The research's figures for the same setup (anchors-dataplane.md, A3: pinned, 90/10 split,
 * random x-user-id; for direct, the upstream's own CPU), to show how this machine compares
 * today: absolute CPU per request moves with the machine, the ratios much less.
 */
export const RESEARCH_A3: Partial<Record<TargetKey, { rps: number; cpuUsPerReq: number }>> = {
  direct: { rps: 52779, cpuUsPerReq: 12.7 },
  nginx: { rps: 29710, cpuUsPerReq: 15.2 },
  fastifyReplyFrom: { rps: 17798, cpuUsPerReq: 55.6 },
  nodeHttpProxy: { rps: 13814, cpuUsPerReq: 71.9 },
  undiciStream: { rps: 24444, cpuUsPerReq: 40.6 },
};

/** Aviary's proxy CPU per request divided by a peer's, or null when either is missing. */
export function cpuOver(by: Map<TargetKey, Summary>, key: TargetKey): number | null {
  const a = by.get("aviary")?.cpuUsPerReq ?? null;
  const p = by.get(key)?.cpuUsPerReq ?? null;
  return a === null || p === null || !(p > 0) ? null : a / p;
}

export function throughputTable(summaries: readonly Summary[]): string {
  const head = [
    "target",
    "req/s",
    "rounds",
    "p50 ms",
    "p99 ms",
    "proxy µs/req",
    "upstr µs/req",
    "busy CPU0/1 %",
    "other %",
    "canary %",
    "non-2xx",
    "sock err",
    "A3 req/s",
    "A3 µs/req",
  ];
  const rows = summaries.map((s) => [
    LABELS[s.key],
    num(s.rps, 0),
    s.roundsRps.map((v) => v.toFixed(0)).join(" "),
    num(s.p50Ms, 2),
    num(s.p99Ms, 2),
    num(s.cpuUsPerReq, 1),
    num(s.upstreamCpuUsPerReq, 1),
    s.busy.map((b) => b.toFixed(0)).join("/"),
    num(s.otherCpuPct, 0),
    num(s.canaryPct, 2),
    String(s.non2xx),
    String(s.socketErrors),
    num(RESEARCH_A3[s.key]?.rps ?? null, 0),
    num(RESEARCH_A3[s.key]?.cpuUsPerReq ?? null, 1),
  ]);
  return table(head, rows);
}

export function fixedRateTable(rows: readonly FixedRateSummary[]): string {
  const d = rows.find((r) => r.key === "direct")?.p99Ms;
  const head = [
    "target",
    "p50 ms",
    "p99 ms",
    "added p99",
    "p99.9 ms",
    "max ms",
    "rounds p99",
    "achieved/s",
    "send lag p99",
    "other %",
    "non-2xx",
    "errors",
  ];
  return table(
    head,
    rows.map((r) => [
      LABELS[r.key],
      num(r.p50Ms, 3),
      num(r.p99Ms, 3),
      r.key === "direct" || d === undefined ? "" : num(r.p99Ms - d, 3),
      num(r.p999Ms, 3),
      num(r.maxMs, 2),
      r.roundsP99Ms.map((v) => num(v, 3)).join(" "),
      num(r.ratePerS, 0),
      num(r.lagP99Ms, 3),
      num(r.otherCpuPct, 0),
      String(r.non2xx),
      String(r.errors),
    ]),
  );
}

function verdict(ok: boolean | null): string {
  return ok === null ? "" : ok ? "met" : "NOT MET";
}

export function goalsReport(by: Map<TargetKey, Summary>, fixed: Map<TargetKey, FixedRateSummary>) {
  const r = ratios(by);
  const cpu = by.get("aviary")?.cpuUsPerReq ?? null;
  const added = addedP99(fixed);
  const cmp = (v: number | null, goal: number, atLeast: boolean): boolean | null =>
    v === null ? null : atLeast ? v >= goal : v <= goal;
  const rows: string[][] = [
    ["vsDirect", num(r.vsDirect, 2), "", ""],
    ["vsNginx", num(r.vsNginx, 2), "", ""],
    [
      "vsFastifyReplyFrom",
      num(r.vsFastifyReplyFrom, 2),
      `≥ ${GOALS.vsFastifyReplyFrom}`,
      verdict(cmp(r.vsFastifyReplyFrom, GOALS.vsFastifyReplyFrom, true)),
    ],
    [
      "vsNodeHttpProxy",
      num(r.vsNodeHttpProxy, 2),
      `≥ ${GOALS.vsNodeHttpProxy}`,
      verdict(cmp(r.vsNodeHttpProxy, GOALS.vsNodeHttpProxy, true)),
    ],
    ["vsUndiciStream", num(r.vsUndiciStream, 2), "", ""],
    [
      "proxy CPU µs/req",
      num(cpu, 1),
      `≤ ${GOALS.cpuUsPerReq}`,
      verdict(cmp(cpu, GOALS.cpuUsPerReq, false)),
    ],
    // The goal's 40 µs sits 1.2× above the 33 µs the research measured for a bare undici stream
    // proxy; on a slower day the same ratio, measured in this run, is the fair reading.
    [
      "proxy CPU ÷ bare undici stream",
      num(cpuOver(by, "undiciStream"), 2),
      `≤ ${(GOALS.cpuUsPerReq / 33).toFixed(2)}`,
      verdict(cmp(cpuOver(by, "undiciStream"), GOALS.cpuUsPerReq / 33, false)),
    ],
    [
      "added p99 ms @1000/s",
      num(added, 3),
      `≤ ${GOALS.addedP99Ms}`,
      verdict(cmp(added, GOALS.addedP99Ms, false)),
    ],
  ];
  return table(["Aviary (throughput: Aviary ÷ peer)", "value", "goal", ""], rows, 1);
}
