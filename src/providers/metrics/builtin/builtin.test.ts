import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { request } from "undici";
import { startRouter, startUpstream } from "../../../../test/fixtures.js";
import { type MeasureContext, ProviderError } from "../../../analysis/types.js";
import { MetricsRegistry } from "../../../dataplane/metrics/registry.js";
import { ManualClock } from "../../../util/clock.js";
import { runProviderConformance } from "../conformance.js";
import { createMetricProvider } from "../factory.js";
import { BuiltinProvider } from "./index.js";
import { slowCounts } from "./slow.js";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function context(over: Partial<MeasureContext> = {}): MeasureContext {
  return {
    service: "shop",
    canaryVersion: "v2",
    stableVersion: "v1",
    args: {},
    slowEdgesMs: [],
    signal: new AbortController().signal,
    ...over,
  };
}

/** A registry on a manual clock; `at(sec, fn)` records at T0 + sec seconds (+ ms). */
function rig() {
  const clock = new ManualClock(T0);
  const metrics = new MetricsRegistry({ clock, windowMs: 15 * 60_000 });
  const canary = metrics.recorder("shop", "v2", "canary");
  const stable = metrics.recorder("shop", "v1", "stable");
  const at = (sec: number, fn: () => void) => {
    const target = T0 + sec * 1000;
    clock.advance(target - clock.now());
    fn();
  };
  return { clock, metrics, canary, stable, at };
}

runProviderConformance(
  "builtin",
  async () => {
    const r = rig();
    // 10 seconds of traffic: 10 requests a second to each arm, one canary 500 a second.
    for (let s = 0; s < 10; s++) {
      r.at(s + 0.5, () => {
        for (let i = 0; i < 10; i++) {
          r.canary.response(i === 0 ? 500 : 200, 10 + i);
          r.stable.response(200, 10 + i);
        }
      });
    }
    r.at(12, () => {});
    const empty = new MetricsRegistry({ clock: r.clock });
    return {
      use: async (mode) =>
        new BuiltinProvider({ signal: "errorRate" }, mode === "empty" ? empty : r.metrics),
      window: { from: T0, to: T0 + 10_000 },
      context: {
        service: "shop",
        canaryVersion: "v2",
        stableVersion: "v1",
        args: {},
        slowEdgesMs: [15],
      },
      expectedValue: 0.1,
      close: async () => {},
    };
  },
  // The builtin provider reads the router's metrics in-process: there is no connection that
  // could be slow, down or garbled, so those cases do not apply.
  { slow: "in-process", down: "in-process", garbage: "in-process" },
);

describe("builtin provider", () => {
  it("gives each signal for canary and stable over the same window", async () => {
    const r = rig();
    for (let s = 0; s < 20; s++) {
      r.at(s + 0.25, () => {
        for (let i = 0; i < 5; i++) r.canary.response(i < 2 ? 503 : 200, 100);
        r.canary.failure("timeout", 100);
        for (let i = 0; i < 4; i++) r.stable.response(200, 50);
      });
    }
    r.at(30, () => {});
    const obs = (
      signal: "errorRate" | "requestRate" | "latencyP50" | "latencyP95" | "latencyP99",
    ) => new BuiltinProvider({ signal }, r.metrics).measure(T0, T0 + 20_000, context());
    const err = await obs("errorRate");
    assert.equal(err.canary.value, 3 / 6);
    assert.equal(err.canary.requests, 120);
    assert.equal(err.canary.errors, 60);
    assert.equal(err.stable?.value, 0);
    assert.equal(err.stable?.requests, 80);
    assert.equal(err.from, T0);
    assert.equal(err.to, T0 + 20_000);
    assert.equal((await obs("requestRate")).canary.value, 6);
    assert.equal((await obs("requestRate")).stable?.value, 4);
    for (const s of ["latencyP50", "latencyP95", "latencyP99"] as const) {
      const o = await obs(s);
      assert.ok(Math.abs((o.canary.value as number) - 100) <= 1, `${s} canary ${o.canary.value}`);
      assert.ok(
        Math.abs((o.stable?.value as number) - 50) <= 0.5,
        `${s} stable ${o.stable?.value}`,
      );
    }
    assert.equal(err.canary.sketch?.count, 120);
  });

  it("gives one series point per second with requests, none for a quiet second", async () => {
    const r = rig();
    const perSecond = [4, 0, 2, 0, 0, 5];
    perSecond.forEach((n, s) => {
      r.at(s + 0.5, () => {
        for (let i = 0; i < n; i++) r.canary.response(i === 0 ? 500 : 200, 10);
      });
    });
    r.at(10, () => {});
    const err = await new BuiltinProvider({ signal: "errorRate" }, r.metrics).measure(
      T0,
      T0 + 6000,
      context(),
    );
    assert.deepEqual(err.canary.series, [1 / 4, 1 / 2, 1 / 5]);
    assert.deepEqual(err.stable?.series, []);
    assert.equal(err.stable?.value, null);
    const rate = await new BuiltinProvider({ signal: "requestRate" }, r.metrics).measure(
      T0,
      T0 + 6000,
      context(),
    );
    assert.deepEqual(rate.canary.series, [4, 2, 5]);
    assert.equal(rate.canary.value, 11 / 6);
  });

  it("caps the series: a long window uses steps of several seconds", async () => {
    const r = rig();
    for (let s = 0; s < 900; s++)
      r.at(s + 0.5, () => r.canary.response(s % 3 === 0 ? 500 : 200, 10));
    r.at(900, () => {});
    const p = new BuiltinProvider({ signal: "errorRate" }, r.metrics);
    const obs = await p.measure(T0, T0 + 900_000, context());
    assert.equal(obs.canary.series?.length, 300);
    // Steps of 3 s, each holding one 500 and two 200s.
    assert.ok(obs.canary.series?.every((v) => Math.abs(v - 1 / 3) < 1e-12));
    const few = new BuiltinProvider({ signal: "requestRate" }, r.metrics, { maxPoints: 7 });
    const series = (await few.measure(T0, T0 + 20_000, context())).canary.series ?? [];
    assert.ok(series.length <= 7, `${series.length} points`);
    assert.ok(
      series.every((v) => v === 1),
      `rates ${series.join(" ")}`,
    );
  });

  it("follows the registry's one-second resolution on unaligned windows", async () => {
    const r = rig();
    for (let s = 0; s < 4; s++) r.at(s + 0.5, () => r.canary.response(200, 10));
    r.at(5, () => {});
    // [0.3 s, 2.7 s) holds the seconds starting at 1 and 2.
    const obs = await new BuiltinProvider({ signal: "requestRate" }, r.metrics).measure(
      T0 + 300,
      T0 + 2700,
      context(),
    );
    assert.equal(obs.canary.requests, 2);
    assert.deepEqual(obs.canary.series, [1, 1]);
  });

  it("leaves mirrored copies out", async () => {
    const r = rig();
    const mirror = r.metrics.recorder("shop", "v2", "mirror");
    r.at(0.5, () => {
      r.canary.response(200, 10);
      for (let i = 0; i < 10; i++) mirror.response(500, 10);
    });
    r.at(2, () => {});
    const obs = await new BuiltinProvider({ signal: "errorRate" }, r.metrics).measure(
      T0,
      T0 + 1000,
      context(),
    );
    assert.equal(obs.canary.value, 0);
    assert.equal(obs.canary.requests, 1);
  });

  it("counts slow requests for the judge's edges", async () => {
    const r = rig();
    const latencies = [1, 5, 9.9, 10, 10.1, 20, 50, 99, 100, 101, 250, 1000];
    r.at(0.5, () => {
      for (const ms of latencies) r.canary.response(200, ms);
    });
    r.at(2, () => {});
    const edges = [0.5, 10, 30, 100, 2000, -1];
    const obs = await new BuiltinProvider({ signal: "latencyP99" }, r.metrics).measure(
      T0,
      T0 + 1000,
      context({ slowEdgesMs: edges }),
    );
    // 9.9/10/10.1 and 99/100/101 sit within 2 % of an edge: those may fall either side.
    assert.deepEqual(obs.canary.slow?.slice(0, 1), [12]);
    assert.ok(
      [7, 8, 9].includes(obs.canary.slow?.[1] as number),
      `edge 10: ${obs.canary.slow?.[1]}`,
    );
    assert.equal(obs.canary.slow?.[2], 6);
    assert.ok(
      [2, 3, 4].includes(obs.canary.slow?.[3] as number),
      `edge 100: ${obs.canary.slow?.[3]}`,
    );
    assert.equal(obs.canary.slow?.[4], 0);
    assert.equal(obs.canary.slow?.[5], 12);
    assert.deepEqual(obs.stable?.slow, [0, 0, 0, 0, 0, 0]);
  });

  it("slow counts are exact but for latencies in the edge's own sketch bin", async () => {
    const r = rig();
    let seed = 42;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const latencies = Array.from({ length: 5000 }, () => Math.exp(rand() * 8) / 10);
    r.at(0.5, () => {
      for (const ms of latencies) r.canary.response(200, ms);
    });
    r.at(2, () => {});
    const sketch = r.metrics.query({
      service: "shop",
      version: "v2",
      from: T0,
      to: T0 + 1000,
    }).sketch;
    const gamma = 1.01 / 0.99;
    for (const edge of [0.2, 1, 3.3, 10, 47, 150, 290]) {
      const [slow] = slowCounts(sketch, [edge]);
      const exact = latencies.filter((ms) => ms > edge).length;
      const near = latencies.filter((ms) => ms > edge / gamma && ms <= edge * gamma).length;
      assert.ok(
        Math.abs((slow as number) - exact) <= near,
        `edge ${edge}: ${slow} vs exact ${exact} (±${near})`,
      );
    }
  });

  it("says when the window is older than the metrics history", async () => {
    const clock = new ManualClock(T0);
    const metrics = new MetricsRegistry({ clock, windowMs: 60_000 });
    metrics.recorder("shop", "v2", "canary").response(200, 1);
    clock.advance(10 * 60_000);
    const p = new BuiltinProvider({ signal: "errorRate" }, metrics);
    await assert.rejects(p.measure(T0, T0 + 1000, context()), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.code, "no-data");
      assert.match(err.message, /older than the router's metrics history/);
      return true;
    });
  });

  it("rejects an empty or reversed window with a ProviderError", async () => {
    const r = rig();
    const p = new BuiltinProvider({ signal: "errorRate" }, r.metrics);
    for (const [from, to] of [
      [T0, T0],
      [T0 + 1, T0],
      [Number.NaN, T0],
    ] as const) {
      await assert.rejects(
        p.measure(from, to, context()),
        (err: unknown) => err instanceof ProviderError && err.code === "window",
      );
    }
  });

  it("measures a real router's traffic", async () => {
    let n = 0;
    const stable = await startUpstream("stable");
    const canary = await startUpstream("canary", (_req, res) => {
      res.writeHead(n++ % 4 === 0 ? 500 : 200);
      res.end("canary");
    });
    const router = await startRouter([
      {
        name: "shop",
        match: { pathPrefix: "/" },
        stable: { version: "v1", targets: [stable.url] },
        canary: { version: "v2", targets: [canary.url] },
        routes: [{ match: { headers: { "x-arm": { exact: "canary" } } }, to: "canary" }],
      },
    ]);
    try {
      // The registry counts whole seconds whose start lies in the window: align it.
      const from = Math.floor(Date.now() / 1000) * 1000;
      for (let i = 0; i < 40; i++) {
        const arm = i % 2 === 0 ? "canary" : "stable";
        const res = await request(`${router.url}/x`, { headers: { "x-arm": arm } });
        await res.body.dump();
      }
      const to = Math.ceil((Date.now() + 1) / 1000) * 1000;
      const p = createMetricProvider(
        { builtin: { signal: "errorRate" } },
        { metrics: router.metrics },
      );
      const obs = await p.measure(from, to, context({ slowEdgesMs: [60_000] }));
      assert.equal(obs.canary.requests, 20);
      assert.equal(obs.canary.value, 5 / 20);
      assert.equal(obs.stable?.requests, 20);
      assert.equal(obs.stable?.value, 0);
      assert.deepEqual(obs.canary.slow, [0]);
      assert.ok((obs.canary.series?.length ?? 0) >= 1);
    } finally {
      await router.close();
      await Promise.all([stable.close(), canary.close()]);
    }
  });
});
