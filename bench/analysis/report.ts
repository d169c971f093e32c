/**
 * Folds runs into the figures per judge and cell, and prints them: tables per scenario, then
 * the targets beside the measured figures (never a failure: benchmarks print).
 *
 * @module
 */

import { type Cell, HORIZON_SEC, SCENARIOS, scenarioNamed } from "./scenarios.js";

export interface CellResult {
  judge: string;
  rps: number;
  /** Canary weight, % */
  weight: number;
  /** Base error rate, fraction. */
  baseErrorRate: number;
  scenario: string;
  runs: number;
  /** A/A: share of runs rolled back in the horizon; delayed onsets: rolled back before the onset; else null. */
  falseRollbackRate: number | null;
  /** Wilson 95 % interval of falseRollbackRate. */
  falseRollbackCI: [number, number] | null;
  /** A/B: share of runs (not rolled back before the onset) rolled back after it, within the horizon. */
  power: number | null;
  /** Time from the onset to the rollback, over those runs, undetected counting as never; null when not reached. */
  medianDetectSeconds: number | null;
  p90DetectSeconds: number | null;
  /** Mean expected excess bad requests served by the canary before the decision (A/B only). */
  badRequests: number | null;
}

export function wilson(k: number, n: number, z = 1.959964): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const d = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / d;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

function quantileOrNull(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const v = sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
  return Number.isFinite(v) ? v : null;
}

export function summarise(
  cell: Cell,
  judge: string,
  decidedAt: ReadonlyArray<number | null>,
  bad: readonly number[],
): CellResult {
  const scenario = scenarioNamed(cell.scenario);
  const runs = decidedAt.length;
  const base = {
    judge,
    rps: cell.rps,
    weight: Math.round(cell.weight * 1000) / 10,
    baseErrorRate: cell.baseErrorRate,
    scenario: cell.scenario,
    runs,
  };
  if (scenario.kind === "aa") {
    const k = decidedAt.filter((d) => d !== null).length;
    return {
      ...base,
      falseRollbackRate: runs > 0 ? k / runs : null,
      falseRollbackCI: wilson(k, runs),
      power: null,
      medianDetectSeconds: null,
      p90DetectSeconds: null,
      badRequests: null,
    };
  }
  const onset = scenario.onsetSec;
  let early = 0;
  const times: number[] = [];
  let badSum = 0;
  for (let r = 0; r < runs; r++) {
    const d = decidedAt[r] ?? null;
    badSum += bad[r] ?? 0;
    if (d !== null && d <= onset) {
      early++;
      continue;
    }
    times.push(d === null ? Number.POSITIVE_INFINITY : d - onset);
  }
  times.sort((a, b) => a - b);
  const detected = times.filter(Number.isFinite).length;
  return {
    ...base,
    falseRollbackRate: onset > 0 ? early / runs : null,
    falseRollbackCI: onset > 0 ? wilson(early, runs) : null,
    power: times.length > 0 ? detected / times.length : null,
    medianDetectSeconds: quantileOrNull(times, 0.5),
    p90DetectSeconds: quantileOrNull(times, 0.9),
    badRequests: runs > 0 ? badSum / runs : null,
  };
}

// ---- printing ---------------------------------------------------------------------------------

export const SHORT: Record<string, string> = {
  "aviary sequential errors": "seq-err",
  "aviary sequential latency": "seq-lat",
  "relative +2pp (min 200)": "rel-err",
  "relative p99 ×1.5 (min 200)": "rel-p99",
  "aviary sequential +2pp": "seq-2pp",
  "aviary sequential p99 ×1.5": "seq-p99",
  "mann-whitney errors (5m)": "mw-err",
  "mann-whitney p99 (5m)": "mw-p99",
  "flagger (99 %, p99 500ms, 5 checks)": "flagger",
  "argo (95 %, failureLimit 3)": "argo",
};

export function duration(s: number | null): string {
  if (s === null) return `>${HORIZON_SEC / 60}m`;
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  const r = Math.round(s - m * 60);
  return r === 0 ? `${m}m` : `${m}m${r}s`;
}

export function pct(x: number, digits = 2): string {
  return `${(100 * x).toFixed(digits)}%`;
}

function bad(x: number | null): string {
  if (x === null) return "-";
  if (x >= 100) return String(Math.round(x));
  return x.toFixed(1);
}

function cellText(r: CellResult): string {
  const kind = scenarioNamed(r.scenario).kind;
  if (kind === "aa") {
    const [lo, hi] = r.falseRollbackCI ?? [0, 1];
    return `${pct(r.falseRollbackRate ?? 0, 1)} (${pct(lo, 1)}–${pct(hi, 1)})`;
  }
  const early =
    r.falseRollbackRate !== null && r.falseRollbackRate > 0
      ? ` e${pct(r.falseRollbackRate, 0)}`
      : "";
  return `${(r.power ?? 0).toFixed(2)} ${duration(r.medianDetectSeconds)}/${duration(r.p90DetectSeconds)} ${bad(r.badRequests)}${early}`;
}

/** Pads to n characters, always leaving at least one space after the text. */
function pad(s: string, n: number): string {
  return s.length >= n ? `${s} ` : s + " ".repeat(n - s.length);
}

export function printTables(results: readonly CellResult[], out: (line: string) => void): void {
  for (const scenario of SCENARIOS) {
    const rows = results.filter((r) => r.scenario === scenario.name);
    if (rows.length === 0) continue;
    const judges = [...new Set(rows.map((r) => r.judge))];
    const keys = [...new Set(rows.map((r) => `${r.rps}|${r.weight}|${r.baseErrorRate}`))];
    const width = scenario.kind === "aa" ? 23 : 27;
    out("");
    if (scenario.kind === "aa") {
      out(
        `${scenario.name}: false-rollback rate within 60 min (Wilson 95 % CI)${scenario.armNoiseCv > 0 ? `; arm-specific noise CV ${scenario.armNoiseCv}` : ""}`,
      );
    } else {
      out(
        `${scenario.name}: power, median/p90 time to detect${scenario.onsetSec > 0 ? " (from the onset)" : ""}, bad requests served before the decision${scenario.onsetSec > 0 ? "; eN% = rolled back before the onset" : ""}`,
      );
    }
    const runs = [...new Set(rows.map((r) => `${SHORT[r.judge] ?? r.judge} ${r.runs}`))];
    out(`  runs per cell: ${runs.join(", ")}`);
    out(`  ${pad("rps  canary base", 18)}${judges.map((j) => pad(SHORT[j] ?? j, width)).join("")}`);
    for (const key of keys) {
      const [rps, weight, base] = key.split("|");
      const label = `${pad(rps as string, 5)}${pad(`${weight}%`, 7)}${pct(Number(base), 1)}`;
      const cells = judges.map((j) => {
        const r = rows.find(
          (x) => x.judge === j && `${x.rps}|${x.weight}|${x.baseErrorRate}` === key,
        );
        return pad(r === undefined ? "-" : cellText(r), width);
      });
      out(`  ${pad(label, 18)}${cells.join("")}`);
    }
  }
}

const SEQ = ["aviary sequential errors", "aviary sequential latency"];
const PEERS = ["flagger (99 %, p99 500ms, 5 checks)", "argo (95 %, failureLimit 3)"];

/** The targets of the brief beside the figures. */
export function printTargets(
  results: readonly CellResult[],
  alpha: number,
  out: (line: string) => void,
): void {
  out("");
  out("Targets (printed, never enforced):");
  // 1. A/A: false rollbacks ≤ α in every cell of every family. The full run judges each cell by
  // the Wilson upper bound of its estimate (the estimate alone could hide a rate above α); the
  // quick run, with too few runs for a tight bound, by the point estimate.
  const aaScenarios = SCENARIOS.filter((x) => x.kind === "aa").map((x) => x.name);
  for (const scenario of aaScenarios) {
    for (const judge of SEQ) {
      const rows = results.filter((r) => r.scenario === scenario && r.judge === judge);
      if (rows.length === 0) continue;
      const bounded = rows.every((r) => r.runs >= 1000);
      const figure = (r: CellResult) =>
        bounded ? (r.falseRollbackCI?.[1] ?? 1) : (r.falseRollbackRate ?? 0);
      const worst = rows.reduce((a, b) => (figure(b) > figure(a) ? b : a));
      const over = rows.filter((r) => figure(r) > alpha);
      out(
        `  ${SHORT[judge]} ${scenario}: false rollbacks ≤ α = ${pct(alpha, 0)} (${bounded ? "Wilson upper bound" : "point estimate"}) in every cell: worst ${pct(worst.falseRollbackRate ?? 0)} (CI ${pct(worst.falseRollbackCI?.[0] ?? 0)}–${pct(worst.falseRollbackCI?.[1] ?? 0)}) at ${worst.rps} rps, ${worst.weight}%, base ${pct(worst.baseErrorRate, 1)}; ` +
          `${over.length}/${rows.length} cells above → ${over.length === 0 ? "met" : "MISSED"}`,
      );
      for (const r of over) {
        out(
          `    over: ${r.rps} rps ${r.weight}% base ${pct(r.baseErrorRate, 1)}: ${pct(r.falseRollbackRate ?? 0)} (CI ${pct(r.falseRollbackCI?.[0] ?? 0)}–${pct(r.falseRollbackCI?.[1] ?? 0)})`,
        );
      }
    }
  }
  // 2. Headline: 100 rps, 5 %, 1 %, ×2 → median ≤ 6 min.
  const head = results.find(
    (r) =>
      r.judge === SEQ[0] &&
      r.scenario === "errors ×2" &&
      r.rps === 100 &&
      r.weight === 5 &&
      r.baseErrorRate === 0.01,
  );
  if (head !== undefined) {
    const ok = head.medianDetectSeconds !== null && head.medianDetectSeconds <= 360;
    out(
      `  seq-err at 100 rps, 5 % canary, 1 % errors, ×2: median ≤ 6m → ${duration(head.medianDetectSeconds)} (p90 ${duration(head.p90DetectSeconds)}, power ${head.power?.toFixed(3)}) → ${ok ? "met" : "MISSED"}`,
    );
  }
  // 2b. Late onset: ×2 errors starting at 20 min, 100 rps, 5 %: median ≤ 6 min after the onset.
  const late = results.find(
    (r) =>
      r.judge === SEQ[0] &&
      r.scenario === "errors ×2 @20m" &&
      r.rps === 100 &&
      r.weight === 5 &&
      r.baseErrorRate === 0.01,
  );
  if (late !== undefined) {
    const ok = late.medianDetectSeconds !== null && late.medianDetectSeconds <= 360;
    out(
      `  seq-err ×2 from 20 min on, 100 rps, 5 %, 1 %: median ≤ 6m after the onset → ${duration(late.medianDetectSeconds)} (p90 ${duration(late.p90DetectSeconds)}, power ${late.power?.toFixed(3)}, rolled back before the onset ${pct(late.falseRollbackRate ?? 0)}) → ${ok ? "met" : "MISSED"}`,
    );
  }
  // 2c. A cold canary that stays slow is still rolled back (its A/A twin is in 1.).
  for (const r of results.filter((x) => x.judge === SEQ[1] && x.scenario === "latency ×1.5 cold")) {
    out(
      `  seq-lat cold then ×1.5 at ${r.rps} rps ${r.weight}%: power ${r.power?.toFixed(3)}, median ${duration(r.medianDetectSeconds)}`,
    );
  }
  // 2d. The seeds' rules: the raw comparison every check against the anytime-valid margin.
  const pairs: Array<[string, string, string]> = [
    ["relative +2pp (min 200)", "aviary sequential +2pp", "errors ×5"],
    ["relative p99 ×1.5 (min 200)", "aviary sequential p99 ×1.5", "latency ×2"],
  ];
  for (const [raw, valid, detect] of pairs) {
    const worstAA = (judge: string) => {
      const rows = results.filter(
        (r) => r.judge === judge && scenarioNamed(r.scenario).kind === "aa",
      );
      if (rows.length === 0) return "-";
      const w = rows.reduce((a, b) =>
        (b.falseRollbackRate ?? 0) > (a.falseRollbackRate ?? 0) ? b : a,
      );
      return `${pct(w.falseRollbackRate ?? 0, 1)} (${w.scenario}, ${w.rps} rps ${w.weight}%)`;
    };
    const detection = (judge: string) => {
      const r = results.find(
        (x) =>
          x.judge === judge &&
          x.scenario === detect &&
          x.rps === 100 &&
          x.weight === 5 &&
          x.baseErrorRate === 0.01,
      );
      return r === undefined
        ? "-"
        : `${duration(r.medianDetectSeconds)} (power ${r.power?.toFixed(2)})`;
    };
    if (results.some((r) => r.judge === raw || r.judge === valid)) {
      out(
        `  seeds' rule ${SHORT[raw]} vs ${SHORT[valid]}: worst A/A false rollbacks ${worstAA(raw)} vs ${worstAA(valid)}; ${detect} at 100 rps 5 %: ${detection(raw)} vs ${detection(valid)}`,
      );
    }
  }
  // 3. ×5 at ≥ 100 rps: ≤ 60 s and faster than every peer.
  const x5 = results.filter(
    (r) => r.judge === SEQ[0] && r.scenario === "errors ×5" && r.rps >= 100,
  );
  if (x5.length > 0) {
    let within = 0;
    let faster = 0;
    const misses: string[] = [];
    for (const r of x5) {
      const peers = results.filter(
        (p) =>
          PEERS.includes(p.judge) &&
          p.scenario === r.scenario &&
          p.rps === r.rps &&
          p.weight === r.weight &&
          p.baseErrorRate === r.baseErrorRate,
      );
      const t = r.medianDetectSeconds ?? Number.POSITIVE_INFINITY;
      const ok60 = t <= 60;
      const beats = peers.every((p) => t < (p.medianDetectSeconds ?? Number.POSITIVE_INFINITY));
      if (ok60) within++;
      if (beats) faster++;
      if (!ok60 || !beats) {
        const peerText = peers
          .map((p) => `${SHORT[p.judge]} ${duration(p.medianDetectSeconds)}`)
          .join(", ");
        misses.push(
          `${r.rps} rps ${r.weight}% base ${pct(r.baseErrorRate, 1)}: ${duration(r.medianDetectSeconds)} vs ${peerText}`,
        );
      }
    }
    out(
      `  seq-err ×5 at ≥ 100 rps: median ≤ 60 s in ${within}/${x5.length} cells, faster than every peer in ${faster}/${x5.length} → ${within === x5.length && faster === x5.length ? "met" : "MISSED"}`,
    );
    for (const m of misses) out(`    miss: ${m}`);
  }
}
