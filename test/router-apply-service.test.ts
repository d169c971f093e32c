/**
 * One service's change through `Router.applyService` / `removeService`: the other services'
 * compiled plans stay the very same objects, the plan is still swapped whole (requests under
 * way finish on theirs), targets stay open while any service still sends to them, health
 * checks follow the targets served, retired versions' metrics retire after the window, and
 * the order the plan keeps is the one a whole apply would give.
 */

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { request } from "undici";
import { MetricsRegistry } from "../src/dataplane/metrics/registry.js";
import { Router } from "../src/dataplane/router.js";
import { type Service, Spec, type SpecInput } from "../src/spec/schema.js";
import { ManualClock } from "../src/util/clock.js";
import { silentLogger } from "../src/util/log.js";
import { services, startRouter, startUpstream, type Upstream } from "./fixtures.js";

type ServiceInput = NonNullable<SpecInput["services"]>[number];

const one = (input: ServiceInput): Service => services([input])[0] as Service;

describe("applying one service", () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });
  async function upstream(name: string, handler?: Parameters<typeof startUpstream>[1]) {
    const u = await startUpstream(name, handler);
    cleanup.push(() => u.close());
    return u;
  }
  const svc = (name: string, stable: Upstream, canary?: Upstream, extra: object = {}) => ({
    name,
    match: { pathPrefix: `/${name}` },
    stable: { version: "v1", targets: [stable.url] },
    ...(canary ? { canary: { version: "v2", targets: [canary.url] }, weight: 100 } : {}),
    ...extra,
  });
  async function answer(url: string): Promise<string> {
    const res = await request(url);
    await res.body.dump();
    return String(res.headers["x-upstream"] ?? res.statusCode);
  }

  it("swaps a new plan object in which every other service's plan is the same object", async () => {
    const a = await upstream("a");
    const b = await upstream("b");
    const c = await upstream("c");
    const router = await startRouter([svc("shop", a), svc("web", b), svc("api", c)]);
    cleanup.push(() => router.close());
    const before = router.router.plan;
    const web = router.router.servicePlan("web");
    const api = router.router.servicePlan("api");
    const oldShop = router.router.servicePlan("shop");

    router.router.applyService(one(svc("shop", a, c)));
    const after = router.router.plan;
    assert.notEqual(after, before, "a new plan object");
    assert.equal(after.generation, before.generation + 1);
    assert.equal(router.router.servicePlan("web"), web, "web's plan untouched");
    assert.equal(router.router.servicePlan("api"), api, "api's plan untouched");
    assert.ok(after.services.includes(web as never) && after.services.includes(api as never));
    assert.notEqual(router.router.servicePlan("shop"), oldShop);
    assert.ok(before.services.includes(oldShop as never), "the old plan object is unchanged");
    assert.equal(await answer(`${router.url}/shop`), "c");
    assert.equal(await answer(`${router.url}/web`), "b");
    assert.deepEqual(
      router.router.services.map((s) => s.name),
      ["shop", "web", "api"],
      "the services as last applied, in the spec's order",
    );

    // The same object again changes nothing.
    const same = router.router.services[0] as Service;
    router.router.applyService(same);
    assert.equal(router.router.plan, after);

    router.router.removeService("web");
    assert.equal(router.router.servicePlan("api"), api);
    assert.equal(await answer(`${router.url}/web`), "404");
    assert.deepEqual(
      router.router.services.map((s) => s.name),
      ["shop", "api"],
    );
  });

  it("keeps a target open while another service still sends to it, and closes it when none does", async () => {
    const shared = await upstream("shared");
    const other = await upstream("other");
    const router = await startRouter([svc("shop", shared), svc("web", shared)]);
    cleanup.push(() => router.close());
    const target = router.router.servicePlan("web")?.stable.targets.targets[0];
    assert.ok(target !== undefined);
    assert.equal(router.router.targetCount, 1, "one pool for the shared origin");

    router.router.applyService(one(svc("shop", other)));
    assert.equal(target.pool.closed, false, "web still sends to it");
    assert.equal(router.router.targetCount, 2);
    assert.equal(await answer(`${router.url}/web`), "shared");
    assert.equal(await answer(`${router.url}/shop`), "other");

    router.router.applyService(one(svc("web", other)));
    assert.equal(target.pool.closed, true, "nobody sends to it any more");
    assert.equal(router.router.targetCount, 1);
    assert.equal(await answer(`${router.url}/web`), "other");

    // A target moved from one service to another within one whole apply stays the same pool.
    const moved = router.router.servicePlan("web")?.stable.targets.targets[0];
    router.apply([svc("shop", shared), svc("web", shared), svc("api", other)]);
    assert.equal(router.router.servicePlan("api")?.stable.targets.targets[0], moved);
    assert.equal(moved?.pool.closed, false);
    router.router.removeService("api");
    assert.equal(moved?.pool.closed, true);
    assert.equal(router.router.targetCount, 1);
  });

  it("lets a request under way finish on its plan when its service changes", async () => {
    const held: Array<() => void> = [];
    const slow = await upstream("slow", (_req, res) => {
      held.push(() => {
        res.writeHead(200, { "x-upstream": "slow" });
        res.end("done");
      });
    });
    const fast = await upstream("fast");
    const router = await startRouter([svc("shop", slow)]);
    cleanup.push(() => router.close());
    const pending = request(`${router.url}/shop`);
    for (let i = 0; i < 200 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(held.length, 1);
    const target = router.router.servicePlan("shop")?.stable.targets.targets[0];
    router.router.applyService(one(svc("shop", fast)));
    assert.equal(await answer(`${router.url}/shop`), "fast", "new requests take the new plan");
    (held[0] as () => void)();
    const res = await pending;
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), "done", "the old request finished on the old target");
    assert.equal(target?.pool.closed, true, "then its pool, no longer named, is closed");
  });

  it("makes health checks follow the targets served, once per target however many services share it", async () => {
    const a = await upstream("a");
    const b = await upstream("b");
    const check = { healthCheck: { path: "/healthz", interval: "1h" } };
    const router = await startRouter([
      svc("shop", a, undefined, check),
      svc("web", a, undefined, check),
    ]);
    cleanup.push(() => router.close());
    assert.equal(router.router.healthCheckCount, 1, "one check for the shared target");
    for (let i = 0; i < 400 && a.received.length === 0; i++)
      await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(
      a.received.map((r) => r.url),
      ["/healthz"],
      "one probe of the shared target, not one per service",
    );
    router.router.applyService(one(svc("shop", a, b, check)));
    assert.equal(router.router.healthCheckCount, 2, "the canary's target is checked too");
    router.router.removeService("web");
    assert.equal(router.router.healthCheckCount, 2, "shop still serves a");
    router.router.applyService(one(svc("shop", b)));
    assert.equal(router.router.healthCheckCount, 0, "no service asks for checks any more");
  });

  it("retires the metrics of the versions the changed service stops serving, and only those", async () => {
    const clock = new ManualClock(Date.now());
    const a = await upstream("a");
    const b = await upstream("b");
    const router = await startRouter([svc("shop", a, b), svc("web", a, b)], { clock });
    cleanup.push(() => router.close());
    for (const path of ["/shop", "/web"]) await answer(`${router.url}${path}`);
    const has = (service: string, version: string) =>
      router.metrics.series().some((s) => s.service === service && s.version === version);
    assert.ok(has("shop", "v2") && has("web", "v2"));

    router.router.applyService(one(svc("shop", a)));
    clock.advance(14 * 60_000);
    assert.ok(has("shop", "v2"), "still there within the window");
    for (const path of ["/shop", "/web"]) await answer(`${router.url}${path}`);
    clock.advance(2 * 60_000);
    assert.ok(!has("shop", "v2"), "shop's retired canary is dropped after the window");
    assert.ok(has("shop", "v1") && has("web", "v2"), "what is still served stays");
  });

  it("keeps the order a whole apply gives (host first, longer prefix first, then the spec's order)", () => {
    const clock = new ManualClock(Date.now());
    const make = () =>
      new Router({
        metrics: new MetricsRegistry({ clock }),
        proxy: Spec.parse({}).proxy,
        log: silentLogger(),
        clock,
      });
    const incremental = make();
    const whole = make();
    cleanup.push(
      () => incremental.close(),
      () => whole.close(),
    );
    // A fixed pseudo-random walk: each step moves one service to another host and prefix.
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const hosts = [undefined, "a.example", "b.example"];
    const prefixes = ["/", "/x", "/xy", "/x/y", "/long/prefix"];
    const make1 = (i: number) =>
      one({
        name: `s${i}`,
        match: { host: hosts[next(3)], pathPrefix: prefixes[next(5)] },
        stable: { version: "v1", targets: [`http://127.0.0.1:${20_000 + next(4)}`] },
      });
    let current = Array.from({ length: 8 }, (_, i) => make1(i));
    incremental.apply(current);
    for (let step = 0; step < 60; step++) {
      const i = next(10);
      const changed = make1(i);
      current = current.some((s) => s.name === changed.name)
        ? current.map((s) => (s.name === changed.name ? changed : s))
        : [...current, changed];
      incremental.applyService(changed);
      if (step % 7 === 6 && current.length > 2) {
        const gone = current[next(current.length)]?.name as string;
        current = current.filter((s) => s.name !== gone);
        incremental.removeService(gone);
      }
      whole.apply(current);
      assert.deepEqual(
        incremental.plan.services.map((s) => s.name),
        whole.plan.services.map((s) => s.name),
        `step ${step}`,
      );
    }
  });
});
