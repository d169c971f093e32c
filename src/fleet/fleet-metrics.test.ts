import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MetricsRegistry } from "../dataplane/metrics/registry.js";
import { ManualClock } from "../util/clock.js";
import { FleetMetrics } from "./fleet-metrics.js";
import { exportWindows } from "./windows.js";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A router's registry with a stable and a canary recorder. */
function routerTraffic(clock: ManualClock) {
  const reg = new MetricsRegistry({ windowMs: 60_000, clock });
  const stable = reg.recorder("shop", "v1", "stable");
  const canary = reg.recorder("shop", "v2", "canary");
  return { reg, stable, canary };
}

describe("FleetMetrics", () => {
  it("merges routers' reported seconds into exactly the sum of their registries", () => {
    const clock = new ManualClock(T0);
    const fleet = new FleetMetrics({ windowMs: 60_000, clock });
    const a = routerTraffic(clock);
    const b = routerTraffic(clock);
    for (let s = 0; s < 5; s++) {
      for (let i = 0; i < 30; i++) {
        a.stable.response(i % 10 === 0 ? 503 : 200, 1 + i);
        a.canary.response(200, 2 + i * 1.5);
        b.stable.response(200, 3 + i * 2);
        if (i % 7 === 0) b.canary.failure("timeout", 900);
      }
      clock.advance(1000);
    }
    const from = T0 / 1000;
    const to = from + 4;
    for (const [id, r] of [
      ["a", a],
      ["b", b],
    ] as const)
      assert.equal(
        fleet.ingest({
          router: id,
          at: clock.now(),
          served: {},
          windows: exportWindows(r.reg, from, to),
        }),
        undefined,
      );
    const q = { service: "shop", from: T0, to: T0 + 5000 };
    for (const version of ["v1", "v2"]) {
      const merged = fleet.query({ ...q, version });
      const ra = a.reg.query({ ...q, version });
      const rb = b.reg.query({ ...q, version });
      assert.equal(merged.requests, ra.requests + rb.requests);
      assert.equal(merged.errors, ra.errors + rb.errors);
      assert.deepEqual(merged.failures, {
        connect: 0,
        timeout: ra.failures.timeout + rb.failures.timeout,
        reset: 0,
      });
      assert.equal(merged.sketch.count, ra.sketch.count + rb.sketch.count);
      const both = ra.sketch;
      both.merge(rb.sketch);
      for (const q of [0.5, 0.95, 0.99])
        assert.equal(
          merged.sketch.getValueAtQuantile(q),
          both.getValueAtQuantile(q),
          `quantile ${q}`,
        );
    }
    assert.equal(fleet.gaps(T0, T0 + 5000), undefined);
  });

  it("names a router that did not cover a window; late, a hole, or before it knew", () => {
    const clock = new ManualClock(T0);
    const fleet = new FleetMetrics({ windowMs: 60_000, clock });
    const reg = new MetricsRegistry({ windowMs: 60_000, clock });
    clock.advance(10_000);
    const s = T0 / 1000;
    fleet.ingest({
      router: "a",
      at: clock.now(),
      served: {},
      windows: exportWindows(reg, s, s + 9),
    });
    fleet.ingest({
      router: "b",
      at: clock.now(),
      served: {},
      windows: exportWindows(reg, s, s + 5),
    });
    assert.equal(fleet.gaps(T0, T0 + 6000), undefined);
    const late = fleet.gaps(T0, T0 + 10_000);
    assert.equal(late?.kind, "not-yet");
    assert.match(late?.message ?? "", /router b \(seconds from .*:06\.000Z unreported/);
    clock.advance(1);
    fleet.ingest({
      router: "b",
      at: clock.now(),
      served: {},
      windows: exportWindows(reg, s + 8, s + 9),
    });
    assert.equal(fleet.gaps(T0, T0 + 10_000)?.kind, "hole", "b skipped seconds 6 and 7");
    assert.equal(fleet.gaps(T0 - 5000, T0)?.kind, "before-known");
    fleet.retire("b");
    assert.equal(fleet.gaps(T0 + 9000, T0 + 10_000), undefined, "a retired router is not expected");
  });

  it("refuses a malformed report, naming the router", () => {
    const fleet = new FleetMetrics({ windowMs: 60_000, clock: new ManualClock(T0) });
    const s = T0 / 1000;
    const bad = {
      v: 1,
      from: s,
      to: s,
      final: false,
      series: [
        {
          service: "shop",
          version: "v1",
          role: "stable",
          seconds: [[s + 5, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]],
        },
      ],
    };
    assert.match(fleet.ingest({ router: "x", at: 1, served: {}, windows: bad }) ?? "", /outside/);
    assert.match(
      fleet.ingest({ router: "y", at: 1, served: {}, windows: { v: 2 } }) ?? "",
      /router y/,
    );
  });
});
