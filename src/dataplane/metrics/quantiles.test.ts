import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DDSketch } from "@datadog/sketches-js";
import { ManualClock } from "../../util/clock.js";
import { MetricsRegistry } from "./registry.js";

const T0 = Date.UTC(2026, 0, 1);

// Seeded, so a failure reproduces.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function lognormal(rand: () => number, medianMs: number, sigma: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return medianMs * Math.exp(sigma * z);
}

// The value DDSketch's rank rule points at: the element at index floor(q * (n - 1)).
function exact(sorted: Float64Array, q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

function relativeError(estimate: number, truth: number): number {
  return Math.abs(estimate - truth) / truth;
}

/** Records `n` lognormal latencies over `seconds` seconds, alternating between the given roles. */
function recordLognormal(
  n: number,
  seconds: number,
  seed: number,
  roles: Array<"stable" | "canary">,
) {
  const clock = new ManualClock(T0);
  const metrics = new MetricsRegistry({ clock });
  const recorders = roles.map((role) => metrics.recorder("checkout", "v2", role));
  const rand = mulberry32(seed);
  const values = new Float64Array(n);
  const step = (seconds * 1000) / n;
  for (let i = 0; i < n; i++) {
    values[i] = lognormal(rand, 25, 1.1);
    recorders[i % recorders.length]!.response(200, values[i]!);
    clock.advance(step);
  }
  clock.advance(1000);
  const summary = metrics.query({ service: "checkout", version: "v2", from: T0, to: clock.now() });
  return { values, summary };
}

describe("window quantiles", () => {
  it("are within 1 % of an exact sort on lognormal latencies", () => {
    const { values, summary } = recordLognormal(60_000, 120, 1, ["canary"]);
    const sorted = Float64Array.from(values).sort();
    assert.equal(summary.requests, values.length);
    for (const [q, got] of [
      [0.5, summary.latencyMs.p50],
      [0.95, summary.latencyMs.p95],
      [0.99, summary.latencyMs.p99],
    ] as const) {
      const err = relativeError(got, exact(sorted, q));
      assert.ok(err <= 0.01, `p${q * 100}: ${got} vs ${exact(sorted, q)} (${err})`);
    }
    for (const q of [0.001, 0.1, 0.25, 0.75, 0.9, 0.999]) {
      const got = summary.sketch.getValueAtQuantile(q);
      const err = relativeError(got, exact(sorted, q));
      assert.ok(err <= 0.01 + 1e-12, `sketch q${q}: ${got} vs ${exact(sorted, q)} (${err})`);
    }
    const sum = values.reduce((a, v) => a + v, 0);
    assert.ok(relativeError(summary.latencyMs.mean, sum / values.length) < 1e-9);
    assert.equal(summary.latencyMs.max, sorted[sorted.length - 1]);
  });

  it("never fall outside the smallest and largest latency", () => {
    const clock = new ManualClock(T0);
    const metrics = new MetricsRegistry({ clock });
    const r = metrics.recorder("checkout", "v2", "canary");
    const q = () => metrics.query({ service: "checkout", version: "v2", from: T0, to: T0 + 1000 });
    r.response(200, 123.4);
    r.response(200, 123.4);
    // A bin's representative value may be 1 % off; when all values are equal they are known exactly.
    const same = q();
    assert.deepEqual([same.latencyMs.p50, same.latencyMs.p99], [123.4, 123.4]);
    r.response(200, 0.37);
    const mixed = q();
    for (const v of [mixed.latencyMs.p50, mixed.latencyMs.p95, mixed.latencyMs.p99]) {
      assert.ok(v <= 123.4 && relativeError(v, 123.4) <= 0.01, `${v}`);
    }
  });

  it("merge across seconds and roles into what one DDSketch would hold", () => {
    const { values, summary } = recordLognormal(20_000, 37, 2, ["stable", "canary"]);
    const reference = new DDSketch({ relativeAccuracy: 0.01 });
    for (const v of values) reference.accept(v);
    assert.equal(summary.sketch.count, reference.count);
    for (const q of [0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1]) {
      assert.equal(summary.sketch.getValueAtQuantile(q), reference.getValueAtQuantile(q), `q${q}`);
    }
  });

  it("hand the judges a sketch that merges with their own", () => {
    const { summary } = recordLognormal(1000, 5, 3, ["canary"]);
    const theirs = new DDSketch({ relativeAccuracy: 0.01 });
    theirs.accept(5);
    theirs.merge(summary.sketch);
    assert.equal(theirs.count, 1001);
    assert.ok(summary.sketch.mergeable(theirs));
  });
});
