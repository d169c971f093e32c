import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Clock, ManualClock } from "../../util/clock.js";
import { MetricsRegistry } from "./registry.js";

const T0 = Date.UTC(2026, 0, 1); // a whole second, like ManualClock's default start

function setup(windowMs = 60_000) {
  const clock = new ManualClock(T0);
  const metrics = new MetricsRegistry({ clock, windowMs });
  return { clock, metrics };
}

describe("MetricsRegistry recorders", () => {
  it("hands out one recorder per (service, version, role)", () => {
    const { metrics } = setup();
    const a = metrics.recorder("checkout", "v2", "canary");
    assert.equal(metrics.recorder("checkout", "v2", "canary"), a);
    assert.notEqual(metrics.recorder("checkout", "v2", "mirror"), a);
    assert.notEqual(metrics.recorder("checkout", "v3", "canary"), a);
    assert.notEqual(metrics.recorder("cart", "v2", "canary"), a);
  });

  it("rejects an unknown role and a window shorter than a second", () => {
    const { metrics } = setup();
    assert.throws(() => metrics.recorder("checkout", "v2", "shadow" as "mirror"), TypeError);
    assert.throws(() => new MetricsRegistry({ windowMs: 500 }), RangeError);
    assert.throws(() => new MetricsRegistry({ windowMs: Number.NaN }), RangeError);
  });

  it("counts status classes, failures and errors", () => {
    const { clock, metrics } = setup();
    const r = metrics.recorder("checkout", "v2", "canary");
    for (const status of [101, 200, 204, 302, 404, 429, 500, 503, 0, 700]) r.response(status, 5);
    r.failure("connect", 1);
    r.failure("timeout", 3000);
    r.failure("timeout", 3000);
    r.failure("reset", 40);
    clock.advance(1000);
    const s = metrics.query({ service: "checkout", version: "v2", from: T0, to: T0 + 1000 });
    assert.deepEqual(s.responses, { "1xx": 1, "2xx": 2, "3xx": 1, "4xx": 2, "5xx": 4 });
    assert.deepEqual(s.failures, { connect: 1, timeout: 2, reset: 1 });
    assert.equal(s.requests, 14);
    assert.equal(s.errors, 8, "5xx (two invalid codes included) and failures; 4xx is not an error");
    assert.equal(s.errorRate, 8 / 14);
    assert.equal(s.latencyMs.max, 3000);
  });

  it("clamps NaN, negative and absurd latencies instead of poisoning the figures", () => {
    const { clock, metrics } = setup();
    const r = metrics.recorder("checkout", "v2", "canary");
    r.response(200, Number.NaN);
    r.response(200, -5);
    r.response(200, Number.POSITIVE_INFINITY);
    clock.advance(1000);
    const s = metrics.query({ service: "checkout", version: "v2", from: T0, to: T0 + 1000 });
    assert.equal(s.requests, 3);
    assert.equal(s.latencyMs.max, 1e7);
    assert.equal(s.latencyMs.mean, 1e7 / 3);
    assert.equal(s.latencyMs.p50, 0);
  });
});

describe("MetricsRegistry windows", () => {
  it("buckets by the clock's second at record time", () => {
    const { clock, metrics } = setup();
    const r = metrics.recorder("checkout", "v2", "canary");
    r.response(200, 10);
    clock.advance(999);
    r.response(500, 20);
    clock.advance(1);
    r.failure("timeout", 30);
    clock.advance(5000);
    const q = (from: number, to: number) =>
      metrics.query({ service: "checkout", version: "v2", from, to });

    const first = q(T0, T0 + 1000);
    assert.equal(first.requests, 2);
    assert.equal(first.errors, 1);
    assert.equal(first.errorRate, 0.5);
    assert.equal(first.seconds, 1);
    assert.equal(first.rps, 2);
    assert.equal(first.latencyMs.max, 20);

    const second = q(T0 + 1000, T0 + 2000);
    assert.equal(second.requests, 1);
    assert.equal(second.failures.timeout, 1);
    assert.equal(second.errorRate, 1);

    const both = q(T0, T0 + 2000);
    assert.equal(both.requests, 3);
    assert.equal(both.rps, 1.5);
    assert.equal(both.latencyMs.mean, 20);
    assert.equal(both.latencyMs.max, 30);
    assert.equal(both.sketch.count, 3);
  });

  it("answers partial windows to the second", () => {
    const { clock, metrics } = setup();
    const r = metrics.recorder("checkout", "v2", "canary");
    for (let s = 1; s <= 10; s++) {
      clock.advance(1000);
      for (let i = 0; i < s; i++) r.response(200, s);
    }
    clock.advance(1000);
    const q = (from: number, to: number) =>
      metrics.query({ service: "checkout", version: "v2", from, to });

    const aligned = q(T0 + 3000, T0 + 6000);
    assert.equal(aligned.requests, 3 + 4 + 5);
    assert.equal(aligned.seconds, 3);
    assert.equal(aligned.rps, 4);
    assert.equal(aligned.latencyMs.max, 5);
    assert.ok(Math.abs(aligned.latencyMs.mean - (9 + 16 + 25) / 12) < 1e-12);

    // A second counts when its start lies in [from, to).
    assert.equal(q(T0 + 3500, T0 + 6500).requests, 4 + 5 + 6);
    assert.equal(q(T0 + 3001, T0 + 3999).requests, 0);
    assert.equal(q(T0 + 10_000, T0 + 60_000).requests, 10);
    assert.equal(q(T0, T0 + 11_000).requests, 55);
  });

  it("drops seconds older than the window and says what it covered", () => {
    const { clock, metrics } = setup(10_000);
    const r = metrics.recorder("checkout", "v2", "stable");
    for (let i = 0; i < 5; i++) r.response(200, 7);
    const q = (from: number, to: number) =>
      metrics.query({ service: "checkout", version: "v2", from, to });

    clock.advance(10_999); // the ring holds the window plus the current second
    r.response(200, 7); // and recording into that current second must not evict second T0
    assert.equal(q(T0, T0 + 1000).requests, 5);

    clock.advance(1); // T0 + 11 s: second T0 has left the window
    const gone = q(T0, T0 + 1000);
    assert.equal(gone.requests, 0);
    assert.equal(gone.from, T0 + 1000);
    assert.equal(gone.seconds, 0);
    assert.ok(Number.isNaN(gone.rps));
    assert.ok(Number.isNaN(gone.errorRate));

    const long = q(T0 - 3_600_000, clock.now());
    assert.equal(long.from, T0 + 1000, "raised to the oldest second held");
    assert.equal(long.seconds, 10);
    assert.equal(long.requests, 1);
  });

  it("reuses ring slots after wrap-around without leaking the old seconds", () => {
    const { clock, metrics } = setup(5_000); // a ring of 6 seconds
    const r = metrics.recorder("checkout", "v2", "canary");
    for (let s = 0; s < 6; s++) {
      r.response(503, 100 * (s + 1));
      r.response(503, 100 * (s + 1));
      clock.advance(1000);
    }
    for (let s = 6; s < 9; s++) {
      r.response(200, 1); // seconds 6, 7, 8 take the slots of 0, 1, 2
      clock.advance(1000);
    }
    // Now T0 + 9 s: the ring holds seconds 4..9.
    const q = (from: number, to: number) =>
      metrics.query({ service: "checkout", version: "v2", from, to });

    const fresh = q(T0 + 6000, T0 + 9000);
    assert.equal(fresh.requests, 3);
    assert.equal(fresh.errors, 0);
    assert.equal(fresh.latencyMs.max, 1);
    assert.ok(Math.abs(fresh.latencyMs.p99 - 1) <= 0.01);
    assert.equal(fresh.sketch.count, 3);

    const held = q(T0, T0 + 9000);
    assert.equal(held.from, T0 + 4000);
    assert.equal(held.requests, 2 + 2 + 3);
    assert.equal(held.responses["5xx"], 4);
    assert.equal(held.latencyMs.max, 600);
  });

  it("reads a slot left over from a past lap as empty", () => {
    const { clock, metrics } = setup(5_000);
    const r = metrics.recorder("checkout", "v2", "canary");
    r.response(500, 50); // second 0, slot 0
    clock.advance(6000); // second 6 maps to slot 0, but nothing is recorded in it
    clock.advance(1000);
    const s = metrics.query({ service: "checkout", version: "v2", from: T0 + 6000, to: T0 + 7000 });
    assert.equal(s.requests, 0);
    assert.ok(Number.isNaN(s.latencyMs.max));
  });

  it("keeps counting into the newest second when the clock steps back", () => {
    let now = T0 + 5000;
    const clock: Clock = { now: () => now, setTimeout: () => ({ cancel() {} }) };
    const metrics = new MetricsRegistry({ clock, windowMs: 60_000 });
    const r = metrics.recorder("checkout", "v2", "canary");
    r.response(200, 1);
    now = T0 + 1000;
    r.response(200, 2);
    now = T0 + 6000;
    const q = (from: number, to: number) =>
      metrics.query({ service: "checkout", version: "v2", from, to });
    assert.equal(q(T0 + 5000, T0 + 6000).requests, 2);
    assert.equal(q(T0 + 1000, T0 + 2000).requests, 0);
  });

  it("says NaN, never a silent 0, when a window holds no request", () => {
    const { clock, metrics } = setup();
    metrics.recorder("checkout", "v2", "canary"); // configured, no traffic
    clock.advance(5000);
    for (const s of [
      metrics.query({ service: "nobody", version: "v0", from: T0, to: T0 + 5000 }),
      metrics.query({ service: "checkout", version: "v2", from: T0, to: T0 + 5000 }),
    ]) {
      assert.equal(s.requests, 0);
      assert.equal(s.rps, 0);
      assert.ok(Number.isNaN(s.errorRate));
      for (const v of Object.values(s.latencyMs)) assert.ok(Number.isNaN(v));
      assert.equal(s.sketch.count, 0);
    }
    metrics.recorder("checkout", "v2", "canary").response(404, 3);
    clock.advance(1000);
    const only4xx = metrics.query({ service: "checkout", version: "v2", from: T0, to: T0 + 6000 });
    assert.equal(only4xx.errorRate, 0, "a real zero when there were requests");
  });

  it("rejects a window that is not a range", () => {
    const { metrics } = setup();
    const base = { service: "checkout", version: "v2" };
    assert.throws(() => metrics.query({ ...base, from: T0, to: T0 }), RangeError);
    assert.throws(() => metrics.query({ ...base, from: T0 + 1, to: T0 }), RangeError);
    assert.throws(() => metrics.query({ ...base, from: Number.NaN, to: T0 }), RangeError);
    assert.throws(
      () => metrics.query({ ...base, from: T0, to: T0 + 1, role: "shadow" as "mirror" }),
      TypeError,
    );
  });
});

describe("MetricsRegistry roles", () => {
  it("keeps mirrored copies apart from a version's live traffic", () => {
    const { clock, metrics } = setup();
    const stable = metrics.recorder("checkout", "v1", "stable");
    const canary = metrics.recorder("checkout", "v2", "canary");
    const mirror = metrics.recorder("checkout", "v2", "mirror");
    for (let i = 0; i < 10; i++) stable.response(200, 10);
    for (let i = 0; i < 5; i++) canary.response(200, 20);
    for (let i = 0; i < 7; i++) mirror.response(500, 900);
    clock.advance(1000);
    const q = (version: string, role?: "mirror" | Array<"canary" | "mirror" | "stable">) =>
      metrics.query({
        service: "checkout",
        version,
        from: T0,
        to: T0 + 1000,
        ...(role === undefined ? {} : { role }),
      });

    const live = q("v2");
    assert.equal(live.requests, 5);
    assert.equal(live.errors, 0);
    assert.equal(live.latencyMs.max, 20);

    const mirrored = q("v2", "mirror");
    assert.equal(mirrored.requests, 7);
    assert.equal(mirrored.errorRate, 1);

    assert.equal(q("v2", ["canary", "mirror"]).requests, 12);
    assert.equal(q("v2", ["canary", "canary"]).requests, 5, "a repeated role counts once");
    assert.equal(q("v1").requests, 10);
    assert.equal(q("v1", "mirror").requests, 0);
  });

  it("keeps a version's history across promotion from canary to stable", () => {
    const { clock, metrics } = setup();
    const asCanary = metrics.recorder("checkout", "v2", "canary");
    for (let i = 0; i < 3; i++) asCanary.response(200, 10);
    clock.advance(1000);
    const asStable = metrics.recorder("checkout", "v2", "stable");
    for (let i = 0; i < 4; i++) asStable.response(500, 10);
    clock.advance(1000);
    const base = { service: "checkout", version: "v2", from: T0, to: T0 + 2000 };
    assert.equal(metrics.query(base).requests, 7);
    assert.equal(metrics.query(base).errors, 4);
    assert.equal(metrics.query({ ...base, role: "canary" }).requests, 3);
    assert.equal(metrics.query({ ...base, role: "stable" }).requests, 4);
  });

  it("lists the series that have data", () => {
    const { metrics } = setup();
    metrics.recorder("checkout", "v1", "stable").response(200, 1);
    metrics.recorder("checkout", "v2", "canary"); // configured, no traffic yet
    metrics.recorder("checkout", "v2", "mirror").failure("reset", 1);
    assert.deepEqual(metrics.series(), [
      { service: "checkout", version: "v1", role: "stable" },
      { service: "checkout", version: "v2", role: "mirror" },
    ]);
  });

  it("forgets a retired version everywhere", async () => {
    const { clock, metrics } = setup();
    const old = metrics.recorder("checkout", "v1", "stable");
    const oldMirror = metrics.recorder("checkout", "v1", "mirror");
    old.response(200, 1);
    oldMirror.response(200, 1);
    metrics.recorder("checkout", "v2", "canary").response(200, 1);
    metrics.forget("checkout", "v1");
    old.response(200, 1); // the proxy may still hold it for a moment: harmless
    clock.advance(1000);

    const base = { service: "checkout", from: T0, to: T0 + 1000 };
    assert.equal(metrics.query({ ...base, version: "v1" }).requests, 0);
    assert.equal(metrics.query({ ...base, version: "v1", role: "mirror" }).requests, 0);
    assert.equal(metrics.query({ ...base, version: "v2" }).requests, 1);
    assert.deepEqual(metrics.series(), [{ service: "checkout", version: "v2", role: "canary" }]);
    const text = await metrics.metrics();
    assert.ok(!text.includes('version="v1"'));
    assert.ok(text.includes('version="v2"'));

    const again = metrics.recorder("checkout", "v1", "stable");
    assert.notEqual(again, old);
    assert.equal(metrics.query({ ...base, version: "v1" }).requests, 0);
  });
});
