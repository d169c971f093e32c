/**
 * The embedded traffic router in front of a real router and real upstreams: configure swaps
 * services and traffic in one step, forgets the traffic of a service it no longer serves, and
 * when the router refuses a configuration, keeps serving (and remembering) what it had.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import {
  services,
  startRouter,
  startUpstream,
  type TestRouter,
  type Upstream,
} from "../../../../test/fixtures.js";
import type { TrafficState } from "../../../rollout/types.js";
import { systemClock } from "../../../util/clock.js";
import { EmbeddedTrafficProvider } from "./index.js";

describe("embedded traffic router", () => {
  const up: Record<string, Upstream> = {};
  let router: TestRouter;

  before(async () => {
    for (const name of ["shop-v1", "shop-v2", "web-v1", "web-v2"])
      up[name] = await startUpstream(name);
  });
  after(async () => {
    await router?.close();
    for (const u of Object.values(up)) await u.close();
  });

  const version = (name: string) => ({
    version: name.split("-")[1] as string,
    targets: [up[name]?.url as string],
  });
  const shop = () => ({ name: "shop", match: { pathPrefix: "/shop" }, stable: version("shop-v1") });
  const web = () => ({ name: "web", match: { pathPrefix: "/web" }, stable: version("web-v1") });
  const all = (canary: string, stable: string): TrafficState => ({
    stable: version(stable),
    canary: version(canary),
    weight: 100,
    headerRoutes: [],
    mirror: null,
  });

  async function answers(path: string): Promise<string> {
    const res = await request(`${router.url}${path}`);
    await res.body.dump();
    return String(res.headers["x-upstream"] ?? res.statusCode);
  }

  it("swaps in one step, keeps what it served when the router refuses, and forgets a removed service's traffic", async () => {
    router = await startRouter([shop(), web()]);
    const traffic = new EmbeddedTrafficProvider(router.router, systemClock);
    await traffic.configure(
      services([shop(), web()]),
      new Map([["shop", all("shop-v2", "shop-v1")]]),
    );
    assert.equal(await answers("/shop/"), "shop-v2");
    assert.equal(await answers("/web/"), "web-v1");
    await traffic.apply("web", all("web-v2", "web-v1"));
    assert.equal(await answers("/web/"), "web-v2");

    // A configuration the router cannot compile (the schema would refuse it; here it is forced).
    const bad = { name: "bad", match: { pathPrefix: "/bad" }, stable: version("web-v1") };
    const broken = services([shop(), web(), bad]);
    (broken[2] as { stable: { targets: string[] } }).stable.targets = ["not a url"];
    await assert.rejects(traffic.configure(broken, new Map()));
    assert.equal(await answers("/shop/"), "shop-v2", "still serving the previous plan");
    assert.equal(await answers("/web/"), "web-v2");
    await traffic.apply("shop", { ...all("shop-v2", "shop-v1"), canary: null, weight: 0 });
    assert.equal(await answers("/shop/"), "shop-v1", "applies on the configuration it kept");
    assert.equal(await answers("/web/"), "web-v2");

    await traffic.configure(services([shop()]), new Map());
    assert.equal(await answers("/web/"), "404", "web is no longer served");
    await traffic.configure(services([shop(), web()]), new Map());
    assert.equal(
      await answers("/web/"),
      "web-v1",
      "back from its spec, not from the traffic it had before it was removed",
    );
  });

  it("applies one service's traffic without recompiling the others, and hands out snapshots from observe", async () => {
    await router?.close();
    router = await startRouter([]);
    const traffic = new EmbeddedTrafficProvider(router.router, systemClock);
    await traffic.configure(services([shop(), web()]), new Map());
    const webPlan = router.router.servicePlan("web");
    const seen = await traffic.observe();
    assert.equal(await traffic.observe(), seen, "nothing changed: the same snapshot");
    await traffic.apply("shop", all("shop-v2", "shop-v1"));
    assert.equal(router.router.servicePlan("web"), webPlan, "web's compiled plan is untouched");
    assert.equal(await answers("/shop/"), "shop-v2");
    assert.equal(seen.get("shop")?.canary, null, "a snapshot handed out earlier does not change");
    assert.equal((await traffic.observe()).get("shop")?.canary, "v2");
    assert.equal(traffic.canaryAvailable("shop"), true);
    assert.equal(traffic.canaryAvailable("web"), undefined);
    await traffic.finalize("web");
    assert.equal(await answers("/web/"), "404");
    assert.deepEqual([...(await traffic.observe()).keys()], ["shop"]);
  });
});
