import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Dispatcher, request } from "undici";
import { startRouter, startUpstream, type TestRouter, type Upstream } from "./fixtures.js";

async function versionFor(
  router: TestRouter,
  headers: Record<string, string> = {},
  path = "/shop/",
): Promise<string> {
  const res = await request(`${router.url}${path}`, { headers });
  const body = (await res.body.json()) as { name: string };
  assert.equal(res.statusCode, 200);
  return body.name;
}

describe("weighted split and stickiness", () => {
  let stable: Upstream;
  let canary: Upstream;
  let router: TestRouter;
  const shop = (weight: number, extra: Record<string, unknown> = {}) => [
    {
      name: "shop",
      match: { pathPrefix: "/shop" },
      stable: { version: "v1", targets: [stable.url] },
      canary: { version: "v2", targets: [canary.url] },
      weight,
      stickiness: { header: "x-user-id" },
      routes: [
        { match: { headers: { "user-type": { exact: "beta-tester" } } }, to: "canary" as const },
        { match: { cookies: { plan: { prefix: "enterprise" } } }, to: "stable" as const },
        { match: { query: { preview: { regex: "^(1|yes)$" } } }, to: "canary" as const },
      ],
      ...extra,
    },
  ];

  before(async () => {
    stable = await startUpstream("stable");
    canary = await startUpstream("canary");
    router = await startRouter(shop(10));
  });
  after(async () => {
    await router.close();
    await stable.close();
    await canary.close();
  });

  it("sends about the weight's share of users to the canary, and each user always to the same version", async () => {
    router.apply(shop(10));
    const first = new Map<string, string>();
    for (let i = 0; i < 1000; i++)
      first.set(`user-${i}`, await versionFor(router, { "x-user-id": `user-${i}` }));
    const onCanary = [...first.values()].filter((v) => v === "canary").length;
    // Binomial(1000, 0.1): sd ≈ 9.5; allow 4.5 sd.
    assert.ok(onCanary > 57 && onCanary < 143, `canary got ${onCanary} of 1000`);
    for (let i = 0; i < 200; i++) {
      assert.equal(await versionFor(router, { "x-user-id": `user-${i}` }), first.get(`user-${i}`));
    }
  });

  it("keeps every canary user on the canary while the weight only grows", async () => {
    const users = Array.from({ length: 400 }, (_, i) => `grow-${i}`);
    let previous = new Set<string>();
    for (const weight of [5, 10, 25, 50, 100]) {
      router.apply(shop(weight));
      const now = new Set<string>();
      for (const u of users)
        if ((await versionFor(router, { "x-user-id": u })) === "canary") now.add(u);
      for (const u of previous) assert.ok(now.has(u), `${u} left the canary at ${weight}%`);
      assert.ok(now.size >= previous.size);
      previous = now;
    }
    assert.equal(previous.size, users.length);
  });

  it("routes a beta tester to the canary whatever the weight, even at 0 %", async () => {
    router.apply(shop(0));
    for (let i = 0; i < 20; i++) {
      assert.equal(
        await versionFor(router, { "user-type": "beta-tester", "x-user-id": `b${i}` }),
        "canary",
      );
      assert.equal(
        await versionFor(router, { "user-type": "beta-testers", "x-user-id": `b${i}` }),
        "stable",
      );
    }
  });

  it("matches cookies and query parameters, and the first matching route wins", async () => {
    router.apply(shop(100));
    assert.equal(await versionFor(router, { cookie: "a=1; plan=enterprise-gold; b=2" }), "stable");
    assert.equal(await versionFor(router, { cookie: "plan=free" }), "canary");
    router.apply(shop(0));
    assert.equal(await versionFor(router, {}, "/shop/item?preview=yes"), "canary");
    assert.equal(await versionFor(router, {}, "/shop/item?preview=no"), "stable");
    // Both match: the beta-tester route is listed first.
    assert.equal(
      await versionFor(router, { "user-type": "beta-tester", cookie: "plan=enterprise" }),
      "canary",
    );
  });

  it("chooses per request when the request has no stickiness key", async () => {
    router.apply(shop(50));
    let onCanary = 0;
    for (let i = 0; i < 400; i++) if ((await versionFor(router)) === "canary") onCanary++;
    // Binomial(400, 0.5): sd = 10.
    assert.ok(onCanary > 150 && onCanary < 250, `canary got ${onCanary} of 400`);
  });

  it("sets a sticky cookie for a new browser user and honours it afterwards", async () => {
    router.apply(shop(50, { stickiness: { cookie: "aviary-id", setCookie: true } }));
    for (let i = 0; i < 20; i++) {
      const res = await request(`${router.url}/shop/`);
      const setCookie = String(res.headers["set-cookie"]);
      const body = (await res.body.json()) as { name: string };
      const m = /^aviary-id=([^;]+); Path=\/; Max-Age=2592000; HttpOnly; SameSite=Lax$/.exec(
        setCookie,
      );
      assert.ok(m, `set-cookie was ${setCookie}`);
      for (let j = 0; j < 5; j++) {
        const again: Dispatcher.ResponseData = await request(`${router.url}/shop/`, {
          headers: { cookie: `aviary-id=${m[1]}` },
        });
        assert.equal(again.headers["set-cookie"], undefined);
        assert.equal(((await again.body.json()) as { name: string }).name, body.name);
      }
    }
  });

  it("answers 404 for a request no service matches, and matches path prefixes by segment", async () => {
    router.apply(shop(0));
    for (const path of ["/", "/shopping", "/other/shop"]) {
      const res = await request(`${router.url}${path}`);
      assert.equal(res.statusCode, 404, path);
      assert.equal(await res.body.text(), "no service matches this request\n");
    }
    assert.equal(await versionFor(router, {}, "/shop"), "stable");
    assert.equal(await versionFor(router, {}, "/shop?x=1"), "stable");
  });

  it("records every response in the version's metrics", async () => {
    router.apply(shop(0));
    const from = Date.now() - 1000;
    for (let i = 0; i < 30; i++) await versionFor(router, { "user-type": "beta-tester" });
    const summary = router.metrics.query({
      service: "shop",
      version: "v2",
      from,
      to: Date.now() + 1000,
    });
    assert.ok(summary.requests >= 30, `requests ${summary.requests}`);
    assert.equal(summary.errors, 0);
    assert.ok(summary.latencyMs.p99 > 0);
  });
});
