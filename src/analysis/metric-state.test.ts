import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AnalysisMetric } from "../spec/schema.js";
import type { MeasurementRecord } from "../store/store.js";
import { MetricState } from "./metric-state.js";

/**
 * Windows without traffic judge nothing: they must not complete a count-bounded metric, and
 * too many in a row end it Inconclusive rather than leave it passing or waiting forever.
 */

const metric = AnalysisMetric.parse({
  name: "errors",
  count: 3,
  interval: "10s",
  provider: { builtin: { signal: "errorRate" } },
  judge: { sequential: {} },
});

/** A sequential judge's "continue" verdict; `silent` marks a window without traffic. */
function measure(s: MetricState, i: number, silent: boolean): void {
  s.record(
    "Successful",
    "continue",
    (i + 1) * 10_000,
    silent ? "no requests" : "fine",
    undefined,
    silent,
  );
}

describe("MetricState and windows without traffic", () => {
  it("a count-bounded metric does not pass on silent windows; judged windows complete it", () => {
    const s = new MetricState(metric, 0, true);
    for (let i = 0; i < 4; i++) measure(s, i, true);
    assert.equal(s.phase, "Running", "four silent windows judged nothing");
    assert.equal(s.judged, 0);
    for (let i = 4; i < 7; i++) measure(s, i, false);
    assert.equal(s.judged, 3);
    assert.equal(s.phase, "Successful");
  });

  it("more silent windows in a row than consecutiveErrorLimit end the metric Inconclusive, saying why", () => {
    const s = new MetricState(metric, 0, true);
    for (let i = 0; i < metric.consecutiveErrorLimit; i++) measure(s, i, true);
    assert.equal(s.phase, "Running");
    measure(s, 9, true);
    assert.equal(s.phase, "Inconclusive");
    assert.match(
      s.reason,
      /no traffic to judge in 5 measurements in a row .*is the data source silent\?/,
    );
  });

  it("a judged window resets the run of silent ones", () => {
    const s = new MetricState(metric, 0, true);
    for (let i = 0; i < 4; i++) measure(s, i, true);
    measure(s, 4, false);
    for (let i = 5; i < 9; i++) measure(s, i, true);
    assert.equal(s.phase, "Running");
    assert.equal(s.reason, "no requests", "below the limit the last measurement speaks");
  });

  it("replay after a restart counts silent windows the same way (from the stored evidence)", () => {
    const stored: MeasurementRecord[] = [true, true, false, true].map((silent, i) => ({
      seq: i + 1,
      runId: "run",
      metric: "errors",
      phase: "Successful",
      value: 1,
      evidence: {
        decision: "continue",
        window: { to: (i + 1) * 10_000 },
        ...(silent ? { noTraffic: true } : {}),
      },
      message: silent ? "no requests" : "fine",
      startedAt: i * 10_000,
      finishedAt: (i + 1) * 10_000,
    }));
    const s = new MetricState(metric, 0, true);
    s.replay(stored);
    assert.equal(s.judged, 1);
    assert.equal(s.consecutiveUnobserved, 1);
    assert.equal(s.phase, "Running");
  });
});
