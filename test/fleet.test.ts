/**
 * The fleet over real HTTP: routers (in-process, and real `aviary router` processes) following
 * a control plane's fleet routes; what they serve when the control plane is gone, after their
 * own restart, and what the leader makes of their reports.
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { request } from "undici";
import type { MeasureContext } from "../src/analysis/types.js";
import { ProviderError } from "../src/analysis/types.js";
import { MemoryFleetBoard } from "../src/fleet/board.js";
import { FleetMetrics } from "../src/fleet/fleet-metrics.js";
import { FleetMetricProvider } from "../src/fleet/metric-provider.js";
import type { TrafficState } from "../src/rollout/types.js";
import { type Service, Spec } from "../src/spec/schema.js";
import { openSqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { systemClock } from "../src/util/clock.js";
import { startUpstream, type Upstream } from "./fixtures.js";
import {
  type ControlPlane,
  freePort,
  OPERATOR_TOKEN,
  ROUTER_TOKEN,
  spawnRouter,
  startControlPlane,
  startRouter,
  until,
} from "./fleet-fixtures.js";

const cleanup: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const dir = mkdtempSync(join(tmpdir(), "aviary-fleet-"));
cleanup.push(() => rmSync(dir, { recursive: true, force: true }));

async function upstreams(): Promise<{ v1: Upstream; v2: Upstream }> {
  const v1 = await startUpstream("v1");
  const v2 = await startUpstream("v2");
  cleanup.push(() => v1.close());
  cleanup.push(() => v2.close());
  return { v1, v2 };
}

function shopSpec(v1: Upstream): Service[] {
  return Spec.parse({
    services: [
      {
        name: "shop",
        match: { pathPrefix: "/shop" },
        stable: { version: "v1", targets: [v1.url] },
      },
    ],
  }).services;
}

function canary(v1: Upstream, v2: Upstream, weight: number): TrafficState {
  return {
    stable: { version: "v1", targets: [v1.url] },
    canary: { version: "v2", targets: [v2.url] },
    weight,
    headerRoutes: [],
    mirror: null,
  };
}

async function who(url: string): Promise<string> {
  const res = await request(`${url}/shop/x`);
  await res.body.dump();
  return String(res.headers["x-upstream"] ?? `status ${res.statusCode}`);
}

async function fleet(opts: { metrics?: FleetMetrics } = {}) {
  const board = new MemoryFleetBoard({ proxy: Spec.parse({}).proxy, metricsWindowMs: 60_000 });
  // The reports in a real store, as aviary serve keeps them.
  const reports = openSqliteStore(join(mkdtempSync(join(dir, "store-")), "aviary.db"));
  cleanup.push(() => reports.close());
  const api = {
    board,
    reports,
    clock: systemClock,
    reportIntervalMs: 200,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
  };
  const cp: ControlPlane = await startControlPlane(api);
  cleanup.push(() => cp.close());
  return { board, reports, cp, api };
}

describe("aviary router", () => {
  it("follows a weight change through the long poll", async () => {
    const { v1, v2 } = await upstreams();
    const { board, cp } = await fleet();
    await board.configure(shopSpec(v1), new Map());
    const r = await startRouter({ id: "a", controls: [cp.url], dataDir: join(dir, "follow") });
    cleanup.push(() => r.close());
    assert.ok(await r.serving(5_000), "serves once the control plane answered");
    const url = `http://127.0.0.1:${r.listenAddress?.port}`;
    assert.equal(await who(url), "v1");
    await board.apply("shop", canary(v1, v2, 100));
    await until("the canary at 100 %", async () => ((await who(url)) === "v2" ? true : undefined));
    assert.equal(r.status().services[0]?.revision, 1);
    await board.apply("shop", canary(v1, v2, 0));
    await until("back to stable", async () => ((await who(url)) === "v1" ? true : undefined));
  });

  it("refuses the wrong token, and a router token anywhere but the fleet routes", async () => {
    const { cp } = await fleet();
    const get = async (path: string, token: string) => {
      const res = await request(`${cp.url}${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await res.body.dump();
      return res.statusCode;
    };
    assert.equal(await get("/api/v1/fleet/state", ROUTER_TOKEN), 200);
    assert.equal(await get("/api/v1/fleet/state", OPERATOR_TOKEN), 200);
    assert.equal(await get("/api/v1/fleet/state", "nope"), 401);
    assert.equal(
      await get("/api/v1/fleet", ROUTER_TOKEN),
      403,
      "the fleet's listing is not for routers",
    );
    const bad = await request(`${cp.url}/api/v1/fleet/report`, {
      method: "POST",
      headers: { authorization: `Bearer ${ROUTER_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ router: "x", intervalMs: 2000, served: {}, windows: { v: 1 } }),
    });
    const problem = (await bad.body.json()) as { detail: string };
    assert.equal(bad.statusCode, 400);
    assert.match(problem.detail, /body\.windows/);
  });

  it("keeps serving without the control plane, and after its own restart (SIGKILL) from disk", async () => {
    const { v1, v2 } = await upstreams();
    const { board, cp, api } = await fleet();
    await board.configure(shopSpec(v1), new Map());
    await board.apply("shop", canary(v1, v2, 100));
    const port = await freePort();
    const dataDir = join(dir, "restart");
    let proc = await spawnRouter({ id: "edge-1", controls: [cp.url], dataDir, port });
    cleanup.push(() => void proc.child.kill("SIGKILL"));
    await until("served from the control plane", async () =>
      (await who(proc.url).catch(() => "")) === "v2" ? true : undefined,
    );

    // The control plane goes away: the router keeps serving and says since when it has not heard.
    await cp.close();
    for (let i = 0; i < 20; i++) assert.equal(await who(proc.url), "v2");
    const status = await until("the outage shows on /status", async () => {
      const s = (await (await request(`${proc.status}/status`)).body.json()) as {
        lastError: string | null;
        sinceContactMs: number;
        source: string;
      };
      return s.lastError !== null ? s : undefined;
    });
    assert.equal(status.source, "control-plane");
    await proc.log.waitFor(
      (e) => e.msg === "control plane unreachable; still serving the state in force",
      "the outage in the log",
    );

    // Killed, and started again while the control plane is still down: it serves from disk.
    proc.child.kill("SIGKILL");
    await new Promise((r) => proc.child.once("exit", r));
    proc = await spawnRouter({ id: "edge-1", controls: [cp.url], dataDir, port });
    await proc.log.waitFor(
      (e) =>
        e.msg ===
        "serving the last known good fleet state from disk until the control plane answers",
      "served from disk",
    );
    for (let i = 0; i < 20; i++) assert.equal(await who(proc.url), "v2");
    const s = (await (await request(`${proc.status}/status`)).body.json()) as { source: string };
    assert.equal(s.source, "disk");

    // The control plane is back, with a new weight: the router takes it.
    const back = await startControlPlane(api, Number(new URL(cp.url).port));
    cleanup.push(() => back.close());
    await board.apply("shop", canary(v1, v2, 0));
    await until(
      "follows again",
      async () => ((await who(proc.url)) === "v1" ? true : undefined),
      15_000,
    );
    proc.child.kill("SIGTERM");
    await new Promise((r) => proc.child.once("exit", r));
  });
});

describe("the fleet's figures", () => {
  it("two routers' reports merged are the sum of their traffic", async () => {
    const { v1, v2 } = await upstreams();
    const metrics = new FleetMetrics({ windowMs: 60_000, clock: systemClock });
    const { board, cp } = await fleet({ metrics });
    await board.configure(shopSpec(v1), new Map());
    await board.apply("shop", canary(v1, v2, 50));
    const a = await startRouter({ id: "a", controls: [cp.url], dataDir: join(dir, "sum-a") });
    const b = await startRouter({ id: "b", controls: [cp.url], dataDir: join(dir, "sum-b") });
    cleanup.push(() => a.close());
    cleanup.push(() => b.close());
    await a.serving(5_000);
    await b.serving(5_000);
    const from = Math.ceil(Date.now() / 1000) * 1000;
    while (Date.now() < from) await new Promise((r) => setTimeout(r, 10));
    const sent = { a: 0, b: 0 };
    for (let i = 0; i < 120; i++) {
      await who(`http://127.0.0.1:${a.listenAddress?.port}`);
      sent.a++;
    }
    for (let i = 0; i < 80; i++) {
      await who(`http://127.0.0.1:${b.listenAddress?.port}`);
      sent.b++;
    }
    const to = (Math.floor(Date.now() / 1000) + 1) * 1000;
    await until("both routers covered the window", async () => {
      if (Date.now() < to) return undefined;
      return metrics.gaps(from, to) === undefined ? true : undefined;
    });
    const q = (version: string) => metrics.query({ service: "shop", version, from, to });
    const total = q("v1").requests + q("v2").requests;
    assert.equal(total, sent.a + sent.b, "every request of both routers, once");
    assert.equal(q("v1").responses["2xx"] + q("v2").responses["2xx"], sent.a + sent.b);
    assert.equal(q("v1").sketch.count + q("v2").sketch.count, sent.a + sent.b, "sketches merged");
    assert.ok(
      q("v2").requests > 40 && q("v2").requests < 160,
      `about half on the canary: ${q("v2").requests}`,
    );
  });

  it("a router that stopped reporting makes the analysis inconclusive, never a pass", async () => {
    const { v1, v2 } = await upstreams();
    const metrics = new FleetMetrics({ windowMs: 60_000, clock: systemClock });
    const { board, cp } = await fleet({ metrics });
    await board.configure(shopSpec(v1), new Map());
    await board.apply("shop", canary(v1, v2, 50));
    const a = await startRouter({ id: "a", controls: [cp.url], dataDir: join(dir, "stale-a") });
    cleanup.push(() => a.close());
    const port = await freePort();
    const b = await spawnRouter({
      id: "b",
      controls: [cp.url],
      dataDir: join(dir, "stale-b"),
      port,
    });
    cleanup.push(() => void b.child.kill("SIGKILL"));
    await a.serving(5_000);
    await until("b serves", async () =>
      (await who(b.url).catch(() => "")) === "v1" || (await who(b.url).catch(() => "")) === "v2"
        ? true
        : undefined,
    );
    await until("b reported", async () =>
      metrics.routers().some((r) => r.router === "b" && r.coveredTo !== undefined)
        ? true
        : undefined,
    );
    // b dies without a word; a keeps serving and reporting, and looks healthy on its own.
    b.child.kill("SIGKILL");
    await new Promise((r) => b.child.once("exit", r));
    const from = Math.ceil(Date.now() / 1000) * 1000;
    while (Date.now() < from + 1500) await who(`http://127.0.0.1:${a.listenAddress?.port}`);
    const to = Math.floor(Date.now() / 1000) * 1000;

    const provider = new FleetMetricProvider(
      { signal: "errorRate" },
      { metrics, clock: systemClock, waitMs: 1_000, pollMs: 50 },
    );
    const ctx: MeasureContext = {
      service: "shop",
      canaryVersion: "v2",
      stableVersion: "v1",
      args: {},
      slowEdgesMs: [],
      signal: new AbortController().signal,
    };
    await assert.rejects(provider.measure(from, to, ctx), (err) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.inconclusive, true, "inconclusive, not an error nor a pass");
      assert.match(err.message, /router b \(seconds from .* unreported; last report \d+ s ago\)/);
      return true;
    });

    // The fleet's listing shows it stale; forgotten by an operator, the analysis goes on.
    const list = (await (
      await request(`${cp.url}/api/v1/fleet`, {
        headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
      })
    ).body.json()) as { routers: Array<{ id: string; stale: boolean }> };
    assert.deepEqual(
      list.routers.map((r) => [r.id, r.stale]),
      [
        ["a", false],
        ["b", true],
      ],
    );
    const del = await request(`${cp.url}/api/v1/fleet/routers/b`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
    });
    assert.equal(del.statusCode, 200);
    await del.body.dump();
    const obs = await provider.measure(from, to, ctx);
    assert.ok(
      (obs.stable?.requests ?? 0) + (obs.canary.requests ?? 0) > 0,
      "a's traffic judged alone now",
    );
  });
});
