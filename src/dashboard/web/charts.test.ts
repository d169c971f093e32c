import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MetricsPoint } from "./api.js";
import { aligned, isEmpty, metricChart, weightChart } from "./charts.js";
import { arm, event, metrics, rollout, T0 } from "./fixtures.js";

const point = (t: number, over: Partial<MetricsPoint> = {}): MetricsPoint => ({
  t,
  requests: 10,
  errors: 0,
  errorRate: 0,
  rps: 1,
  p50Ms: 5,
  p99Ms: 20,
  ...over,
});

describe("chart data", () => {
  const m = metrics([
    arm("canary", "v2", {}, [
      point(T0, { errorRate: 0.1, rps: 2 }),
      point(T0 + 10_000, { requests: 0, errorRate: null, rps: 0, p50Ms: null, p99Ms: null }),
    ]),
    arm("stable", "v1", {}, [point(T0, { errorRate: 0.01, rps: 8 }), point(T0 + 10_000)]),
  ]);

  it("puts stable first, canary second, x in seconds, error rates in percent", () => {
    const c = metricChart(m, "errors");
    assert.deepEqual(c.x, [T0 / 1000, T0 / 1000 + 10]);
    assert.deepEqual(
      c.lines.map((l) => [l.label, l.role, l.values]),
      [
        ["stable v1", "stable", [1, 0]],
        ["canary v2", "canary", [10, null]],
      ],
    );
  });

  it("gives p50 and p99 lines per version; a sub-window without requests is a gap, not 0", () => {
    const c = metricChart(m, "latency");
    assert.deepEqual(
      c.lines.map((l) => `${l.label}=${l.values.join(",")}`),
      ["stable v1 p50=5,5", "stable v1 p99=20,20", "canary v2 p50=5,", "canary v2 p99=20,"],
    );
    assert.deepEqual(aligned(metricChart(m, "rate")), [
      [T0 / 1000, T0 / 1000 + 10],
      [8, 1],
      [2, 0],
    ]);
  });

  it("aligns versions whose series cover different times", () => {
    const c = metricChart(
      metrics([
        arm("stable", "v1", {}, [point(T0)]),
        arm("canary", "v2", {}, [point(T0 + 10_000)]),
      ]),
      "rate",
    );
    assert.deepEqual(aligned(c), [
      [T0 / 1000, T0 / 1000 + 10],
      [1, null],
      [null, 1],
    ]);
  });

  it("knows when there is nothing to draw", () => {
    assert.ok(isEmpty(metricChart(metrics([arm("stable", "v1")]), "errors")));
    assert.ok(!isEmpty(metricChart(m, "errors")));
  });

  it("draws the weight from 0 at the start through every change, held until now", () => {
    const r = rollout({ createdAt: T0, traffic: { ...rollout().traffic, weight: 40 } });
    const history = [
      event(1, { at: T0, type: "rollout.started", weight: 0 }),
      event(2, { at: T0 + 1_000, weight: 10 }),
      event(3, { at: T0 + 31_000, weight: 40 }),
      event(4, { at: T0 + 32_000, type: "paused", weight: 40 }),
      event(5, { rolloutId: "older", at: T0 + 33_000, weight: 100 }),
    ];
    const c = weightChart(history, r, T0 + 60_000);
    assert.deepEqual(
      c.x,
      [0, 1, 31, 32, 60].map((s) => T0 / 1000 + s),
    );
    assert.deepEqual(c.lines[0]?.values, [0, 10, 40, 40, 40]);
  });

  it("runs an aborted rollout's line a little past its end, at 0, and no further than now", () => {
    const r = rollout({ createdAt: T0, phase: "Aborted", finishedAt: T0 + 50_000 });
    r.traffic = { ...r.traffic, weight: 0 };
    const history = [
      event(1, { at: T0 + 1_000, weight: 10 }),
      event(2, { at: T0 + 50_000, weight: 0 }),
    ];
    const later = weightChart(history, r, T0 + 600_000);
    assert.deepEqual(later.lines[0]?.values, [0, 10, 0, 0]);
    assert.equal(later.x.at(-1), T0 / 1000 + 55, "a tenth of its 50 s past the end");
    const soon = weightChart(history, r, T0 + 51_000);
    assert.equal(soon.x.at(-1), T0 / 1000 + 51);
    const atEnd = weightChart(history, r, T0 + 50_000);
    assert.deepEqual(atEnd.lines[0]?.values, [0, 10, 0]);
  });
});
