import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveStrategy } from "../../rollout/steps.js";
import type { Rollout } from "../../rollout/types.js";
import { Strategy } from "../../spec/schema.js";
import type { MeasurementRecord } from "../../store/store.js";
import type { ServiceView } from "../format.js";
import {
  formatValue,
  type MetricsRead,
  type MetricsState,
  measurementValue,
  renderWatch,
  renderWatchText,
  type WatchState,
  weightBar,
} from "./render.js";
import type { AnalysisRun } from "./status.js";
import { plain, textWidth } from "./text.js";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const V1 = { version: "v1", targets: ["http://127.0.0.1:9001"] };
const V2 = { version: "v2", targets: ["http://127.0.0.1:9002"] };

const STRATEGY = resolveStrategy(
  Strategy.parse({
    steps: [{ setWeight: 20 }, { pause: { duration: "30s" } }, { setWeight: 50 }, { pause: {} }],
    promotion: { auto: false },
  }),
);

function rollout(changes: Partial<Rollout> = {}): Rollout {
  return {
    id: "01JROLLOUT",
    service: "web",
    stable: V1,
    canary: V2,
    phase: "Paused",
    reason: "step 2/4: pausing for 30s",
    stepIndex: 1,
    stepStartedAt: T0,
    progressSince: T0,
    pausedAt: null,
    traffic: { stable: V1, canary: V2, weight: 20, headerRoutes: [], mirror: null },
    strategy: STRATEGY,
    gates: { passed: [], waiting: null },
    createdAt: T0 - 2_000,
    updatedAt: T0,
    finishedAt: null,
    revision: 3,
    ...changes,
  };
}

function view(r: Rollout | null): ServiceView {
  return {
    name: "web",
    traffic:
      r?.phase === "Aborted"
        ? { ...r.traffic, canary: null, weight: 0 }
        : (r?.traffic ?? {
            stable: V1,
            canary: null,
            weight: 0,
            headerRoutes: [],
            mirror: null,
          }),
    rolloutId: r?.id ?? null,
    previousStable: null,
    updatedAt: T0,
    revision: 1,
    rollout: r,
  };
}

const METRICS: MetricsRead = {
  service: "web",
  from: T0 - 60_000,
  to: T0,
  step: 10_000,
  versions: [
    {
      version: "v1",
      role: "stable",
      summary: {
        requests: 240,
        errors: 0,
        errorRate: 0,
        rps: 4,
        p50Ms: 1.2,
        p95Ms: 2.5,
        p99Ms: 3.25,
      },
      series: [],
    },
    {
      version: "v2",
      role: "canary",
      summary: {
        requests: 60,
        errors: 3,
        errorRate: 0.05,
        rps: 1,
        p50Ms: 1.5,
        p95Ms: 4,
        p99Ms: 12.5,
      },
      series: [],
    },
  ],
};

function state(r: Rollout | null, changes: Partial<WatchState> = {}): WatchState {
  return {
    view: view(r),
    metrics: { kind: "ok", read: METRICS, window: "1m" },
    runs: [],
    connection: { ok: true },
    ...changes,
  };
}

const text = (s: WatchState, now: number, width = 100) =>
  renderWatchText(s, { width, now, color: false });

/** The line that starts (after indentation) with `start`. */
function line(lines: string[], start: string | RegExp): string {
  const found = lines.find((l) =>
    typeof start === "string" ? l.trimStart().startsWith(start) : start.test(l),
  );
  assert.ok(found !== undefined, `no line starting with ${start} in:\n${lines.join("\n")}`);
  return found;
}

describe("watch view", () => {
  it("shows service, versions, phase, reason, the steps with the current one marked and the countdown", () => {
    const lines = text(state(rollout()), T0 + 18_000);
    assert.equal(lines[0], "web  Paused  stable v1 · canary v2   server time 12:00:18 UTC");
    assert.equal(lines[1], "  step 2/4: pausing for 30s");
    assert.match(
      lines[2] as string,
      /rollout 01JROLLOUT {2}v1 → v2 {2}started 11:59:58 \(20s ago\)/,
    );
    assert.deepEqual(lines.slice(4, 10), [
      "steps",
      "  ✓  1 setWeight 20%",
      "  ▶  2 pause 30s — 12s left",
      "     3 setWeight 50%",
      "     4 pause (until promoted)",
      "       promotion",
    ]);
    assert.equal(line(lines, "weight"), "weight  [████░░░░░░░░░░░░░░░░] 20%");
  });

  it("counts down on the server's clock, rounding up, and says when the pause is ending", () => {
    const at = (ms: number) => line(text(state(rollout()), T0 + ms), "▶");
    assert.equal(at(0), "  ▶  2 pause 30s — 30s left");
    assert.equal(at(29_001), "  ▶  2 pause 30s — 1s left");
    assert.equal(at(30_000), "  ▶  2 pause 30s — ending");
    assert.equal(at(45_000), "  ▶  2 pause 30s — ending");
  });

  it("freezes the countdown while an operator pause holds it, and says how to go on", () => {
    const r = rollout({ pausedAt: T0 + 10_000, reason: "paused by operator:alice" });
    const lines = text(state(r), T0 + 100_000);
    assert.equal(line(lines, "▶"), "  ▶  2 pause 30s — 20s left (frozen while paused)");
    assert.equal(
      line(lines, "next"),
      "next  paused: aviary resume web goes on · aviary abort web rolls back",
    );
  });

  it("at a manual pause, says which command moves the rollout on", () => {
    const r = rollout({
      stepIndex: 3,
      pausedAt: T0,
      reason: "step 4/4: waiting at a manual pause until promoted",
      traffic: { stable: V1, canary: V2, weight: 50, headerRoutes: [], mirror: null },
    });
    const lines = text(state(r), T0 + 5_000);
    assert.equal(line(lines, "▶"), "  ▶  4 pause (until promoted) — waiting for promote");
    assert.equal(line(lines, "✓  3"), "  ✓  3 setWeight 50%");
    assert.equal(line(lines, "weight"), "weight  [██████████░░░░░░░░░░] 50%");
    assert.equal(
      line(lines, "next"),
      "next  waiting for a person: aviary promote web goes on · aviary abort web rolls back",
    );
  });

  it("at the promotion gate, marks promotion and names promote", () => {
    const r = rollout({
      stepIndex: 4,
      pausedAt: T0,
      reason: "waiting for promotion (promotion.auto is false): run aviary promote",
      traffic: { stable: V1, canary: V2, weight: 100, headerRoutes: [], mirror: null },
    });
    const lines = text(state(r), T0 + 1_000);
    assert.equal(line(lines, "▶"), "  ▶    promotion — waiting for promote");
    assert.match(line(lines, "next"), /aviary promote web makes v2 stable/);
  });

  it("held at a gate: says which, for how long, and how to open it", () => {
    const s = resolveStrategy(
      Strategy.parse({
        steps: [{ setWeight: 20 }, { setWeight: 50 }],
        gates: [{ name: "approve", type: "confirm-traffic-increase" }],
      }),
    );
    const r = rollout({
      phase: "Waiting",
      strategy: s,
      reason: "waiting at gate approve before the weight goes to 50%",
      gates: { passed: [], waiting: { point: "step1", gates: ["approve"], since: T0 } },
    });
    const lines = text(state(r), T0 + 65_000);
    assert.match(lines[0] as string, /^web {2}Waiting {2}/);
    assert.equal(line(lines, "▶"), "  ▶  2 setWeight 50% — held at gate approve for 1m5s");
    assert.equal(
      line(lines, "next"),
      "next  waiting at a gate: aviary gate open web approve · aviary abort web rolls back",
    );
  });

  it("after an abort: phase Aborted, the step it stopped at crossed, weight 0, retry named", () => {
    const r = rollout({
      phase: "Aborted",
      reason: "aborted by operator:alice: errors",
      finishedAt: T0 + 5_000,
      traffic: { stable: V1, canary: null, weight: 0, headerRoutes: [], mirror: null },
    });
    const lines = text(state(r, { metrics: { kind: "unavailable" } }), T0 + 6_000);
    assert.match(lines[0] as string, /^web {2}Aborted {2}stable v1 · no canary/);
    assert.equal(line(lines, "✗"), "  ✗  2 pause 30s");
    assert.ok(!lines.some((l) => l.includes("▶")), "nothing is current any more");
    assert.equal(line(lines, "weight"), "weight  [░░░░░░░░░░░░░░░░░░░░] 0%");
    assert.equal(line(lines, "next"), "next  aviary retry web starts v2 again from step 1");
  });

  it("shows canary and stable side by side over the last minute", () => {
    const lines = text(state(rollout()), T0);
    const header = line(lines, "metrics");
    assert.match(header, /^metrics, last 1m\s+stable v1\s+canary v2$/);
    assert.match(line(lines, "error rate"), /^ {2}error rate\s+0\.00%\s+5\.00%$/);
    assert.match(line(lines, "p99"), /^ {2}p99\s+3\.25 ms\s+12\.5 ms$/);
    assert.match(line(lines, "rps"), /^ {2}rps\s+4\s+1$/);
    assert.match(line(lines, "requests"), /^ {2}requests\s+240\s+60$/);
    // The columns line up: each figure ends where its header does.
    const end = (l: string, s: string) => l.indexOf(s) + s.length;
    assert.equal(end(line(lines, "error rate"), "5.00%"), end(header, "canary v2"));
  });

  it("shows a dash for figures without data and says when metrics cannot be had", () => {
    const empty: MetricsRead = {
      ...METRICS,
      versions: [
        {
          version: "v1",
          role: "stable",
          summary: {
            requests: 0,
            errors: 0,
            errorRate: null,
            rps: null,
            p50Ms: null,
            p95Ms: null,
            p99Ms: null,
          },
          series: [],
        },
      ],
    };
    const lines = text(
      state(rollout(), { metrics: { kind: "ok", read: empty, window: "1m" } }),
      T0,
    );
    assert.match(line(lines, "error rate"), /^ {2}error rate\s+–\s+–$/);
    const unavailable: MetricsState = { kind: "unavailable" };
    assert.equal(
      line(text(state(rollout(), { metrics: unavailable }), T0), "metrics"),
      "metrics: not available",
    );
  });

  it("lists the last analysis verdicts: time, metric, phase, value and the judge's sentence", () => {
    const m = (
      seq: number,
      metric: string,
      phase: MeasurementRecord["phase"],
      value: number | null,
      message: string,
    ): MeasurementRecord => ({
      seq,
      runId: "run1",
      metric,
      phase,
      value,
      evidence: {},
      message,
      startedAt: T0 + seq * 1000 - 1000,
      finishedAt: T0 + seq * 1000,
    });
    const runs: AnalysisRun[] = [
      {
        id: "run1",
        rolloutId: "01JROLLOUT",
        service: "web",
        kind: "background",
        stepIndex: null,
        phase: "Running",
        message: "2 of 5 measurements",
        spec: {},
        startedAt: T0,
        finishedAt: null,
        measurements: Array.from({ length: 7 }, (_, i) =>
          m(
            i + 1,
            i % 2 ? "latency" : "errors",
            "Successful",
            0.0012 * (i + 1),
            `result ${i + 1} <= 0.05`,
          ),
        ),
      },
    ];
    const lines = text(state(rollout(), { runs }), T0 + 10_000);
    assert.equal(line(lines, "background"), "  background  Running  2 of 5 measurements");
    const verdicts = lines.filter((l) => /^ {2}12:00:0\d/.test(l));
    assert.equal(verdicts.length, 5, "the last five");
    assert.equal(verdicts[4], "  12:00:07  errors   Successful  0.0084    result 7 <= 0.05");
    assert.equal(verdicts[0], "  12:00:03  errors   Successful  0.0036    result 3 <= 0.05");
  });

  it("says when the connection is lost, keeping the last view", () => {
    const s = state(rollout(), {
      connection: {
        ok: false,
        unreachable: true,
        since: T0,
        error: "cannot reach Aviary at http://127.0.0.1:9: connect ECONNREFUSED",
      },
    });
    const lines = text(s, T0 + 4_000, 200);
    assert.equal(
      lines[0],
      "connection lost, retrying… (4s; cannot reach Aviary at http://127.0.0.1:9: connect ECONNREFUSED)",
    );
    assert.match(lines[1] as string, /^web {2}Paused/);
  });

  it("cuts every line to the width (wide characters count two) and never lets server text move the cursor", () => {
    const r = rollout({ reason: `step 2/4: ${"x".repeat(200)} \x1b[2J\r版本` });
    for (const width of [20, 40, 79]) {
      for (const l of renderWatch(state(r), { width, now: T0 })) {
        assert.ok(textWidth(plain(l)) <= width, `${width}: ${plain(l)}`);
      }
    }
    const wide = renderWatch(state(rollout({ reason: "版本版本版本" })), { width: 8, now: T0 });
    assert.equal(plain(wide[1] as never), "  版本…");
    const evil = rollout({ reason: "ok\x1b[2J\x07\x9b done" });
    const out = text(state(evil), T0, 200);
    assert.equal(out[1], "  ok?[2J?? done");
  });

  it("colours only when asked, and never cuts an escape sequence", () => {
    const coloured = renderWatchText(state(rollout()), { width: 30, now: T0, color: true });
    assert.match(coloured[0] as string, /\x1b\[1mweb\x1b\[22m/);
    for (const l of coloured) {
      const stripped = l.replace(/\x1b\[[0-9;]*m/g, "");
      assert.ok(!stripped.includes("\x1b"), `a cut escape in ${JSON.stringify(l)}`);
      assert.ok(textWidth(stripped) <= 30);
    }
    assert.ok(!text(state(rollout()), T0).some((l) => l.includes("\x1b")));
  });

  it("without a rollout, says how to start one", () => {
    const lines = text(state(null), T0);
    assert.match(lines[0] as string, /^web {2}no rollout {2}stable v1 · no canary/);
    assert.equal(
      line(lines, "next"),
      "next  no rollout: aviary deploy web --version V --target URL starts one",
    );
  });

  it("draws the weight bar and short values", () => {
    assert.equal(weightBar(0), "[░░░░░░░░░░░░░░░░░░░░] 0%");
    assert.equal(weightBar(25), "[█████░░░░░░░░░░░░░░░] 25%");
    assert.equal(weightBar(100), "[████████████████████] 100%");
    assert.equal(weightBar(12.5), "[███░░░░░░░░░░░░░░░░░] 12.5%");
    assert.equal(formatValue(null), "–");
    assert.equal(formatValue(0.000123), "1.23e-4");
    assert.equal(formatValue(12.3456), "12.35");
    assert.equal(formatValue(0), "0");
    assert.equal(measurementValue({ value: 0.4241, evidence: { eValue: 0.4241 } }), "e=0.4241");
    assert.equal(measurementValue({ value: 0.05, evidence: {} }), "0.05");
    assert.equal(measurementValue({ value: 66.67, evidence: { kind: "score" } }), "score=66.67");
  });
});
