/**
 * Figures of `bench:dataplanes`: medians over the interleaved rounds, the `--json` object (its
 * shape is agreed with the lead; what is not measured is null) and the human table.
 *
 * @module
 */

import type { Sample } from "../proxy/measure.js";
import { median, round, sum } from "../proxy/stats.js";
import type { WrkRun } from "../proxy/wrk.js";

export type EntryKey =
  | "bare.haproxy"
  | "bare.nginx"
  | "embedded"
  | "driven.haproxy"
  | "driven.nginx";

export interface Summary {
  rps: number;
  /** Engine CPU (its whole process tree) over all measured runs ÷ their requests. */
  cpuUsPerReq: number | null;
  p99Ms: number;
  canaryPct: number;
  otherCpuPct: number;
  failed: number;
}

export interface SwitchResult {
  switches: number;
  p99Ms: number;
  failedRequests: number;
}

export function summarize(_key: EntryKey, runs: ReadonlyArray<Sample<WrkRun>>): Summary {
  const requests = sum(runs.map((r) => r.result.requests));
  const cpu = runs.map((r) => r.proxyCpuS);
  const upstream = sum(runs.map((r) => r.stable + r.canary));
  return {
    rps: median(runs.map((r) => r.result.rps)),
    cpuUsPerReq: cpu.some((c) => c === null) ? null : (1e6 * sum(cpu as number[])) / requests,
    p99Ms: median(runs.map((r) => r.result.p99Ms)),
    canaryPct: upstream > 0 ? (100 * sum(runs.map((r) => r.canary))) / upstream : 0,
    otherCpuPct: median(runs.map((r) => r.otherCpuPct)),
    failed: sum(runs.map((r) => r.result.non2xx + r.result.socketErrors)),
  };
}

/** Throughput of `a` over `b` (as bench:proxy's ratios), or null when either is missing. */
function over(a: Summary | undefined, b: Summary | undefined): number | null {
  return a === undefined || b === undefined || !(b.rps > 0) ? null : round(a.rps / b.rps, 3);
}

function basic(s: Summary | undefined) {
  return { rps: s ? round(s.rps, 0) : null, cpuUsPerReq: s ? round(s.cpuUsPerReq, 1) : null };
}

/**
 * `{ engines: { haproxy, nginx, embedded }, bare: { haproxy, nginx }, ratios }`. `engines.haproxy`
 * and `engines.nginx` are the Aviary-driven engines (null figures until their entries exist);
 * ratios are throughput ratios, driven over bare and driven over embedded.
 */
export function jsonReport(
  by: ReadonlyMap<EntryKey, Summary>,
  switches: ReadonlyMap<EntryKey, SwitchResult>,
): unknown {
  const driven = (key: "driven.haproxy" | "driven.nginx") => {
    const sw = switches.get(key);
    return {
      ...basic(by.get(key)),
      switchP99Ms: sw ? round(sw.p99Ms, 1) : null,
      failedRequests: sw ? sw.failedRequests : null,
    };
  };
  return {
    engines: {
      haproxy: driven("driven.haproxy"),
      nginx: driven("driven.nginx"),
      embedded: basic(by.get("embedded")),
    },
    bare: { haproxy: basic(by.get("bare.haproxy")), nginx: basic(by.get("bare.nginx")) },
    ratios: {
      haproxyVsBare: over(by.get("driven.haproxy"), by.get("bare.haproxy")),
      nginxVsBare: over(by.get("driven.nginx"), by.get("bare.nginx")),
      haproxyVsEmbedded: over(by.get("driven.haproxy"), by.get("embedded")),
      nginxVsEmbedded: over(by.get("driven.nginx"), by.get("embedded")),
    },
  };
}

const num = (v: number | null | undefined, digits: number): string =>
  v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);

/** The human table: one row per entry, in the order they ran. */
export function table(
  rows: ReadonlyArray<{ label: string; summary: Summary | undefined }>,
): string {
  const head = ["engine", "req/s", "µs CPU/req", "p99 ms", "canary %", "failed", "other %"];
  const cells = rows.map(({ label, summary: s }) => [
    label,
    num(s?.rps, 0),
    num(s?.cpuUsPerReq, 1),
    num(s?.p99Ms, 2),
    num(s?.canaryPct, 1),
    s ? String(s.failed) : "–",
    num(s?.otherCpuPct, 0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (c: string[]) =>
    c.map((x, i) => (i === 0 ? x.padEnd(widths[i] ?? 0) : x.padStart(widths[i] ?? 0))).join("  ");
  return [line(head), ...cells.map(line)].join("\n");
}
