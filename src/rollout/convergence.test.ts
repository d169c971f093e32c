/**
 * The convergence loop through the real controller, on a manual clock, with the no-op provider
 * taken down and edited by hand: a decision is recorded whatever the engine does, applied once
 * it answers, re-applied when the engine serves something else, and a rollout does not widen
 * while the engine does not serve (or split) what it was told.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { servedOf } from "../providers/traffic/served.js";
import type { SplitReader } from "./split-check.js";
import { harness, shop, V2 } from "./test-harness.js";

const types = async (h: Awaited<ReturnType<typeof harness>>) =>
  (await h.controller.history("shop")).map((e) => e.type);

describe("convergence loop", () => {
  it("records an abort while the engine is down, says so, and applies it once the engine answers", async () => {
    const h = await harness([shop()]);
    await h.controller.deploy("shop", V2, "operator:alice");
    assert.equal(h.weight(), 5);
    h.router.down = "connect ECONNREFUSED 127.0.0.1:9999";
    const aborted = await h.controller.abort("shop", "operator:bob", "errors");
    assert.equal(aborted.phase, "Aborted", "the abort is recorded at once");
    assert.equal(h.weight(), 5, "the engine still serves the canary");
    const status = h.controller.trafficStatus("shop");
    assert.equal(status?.applied, false);
    assert.equal(status?.engine, "noop");
    assert.match(status?.why ?? "", /ECONNREFUSED/);
    assert.ok((await types(h)).includes("traffic.pending"));
    const pending = (await h.controller.history("shop")).find((e) => e.type === "traffic.pending");
    assert.match(pending?.reason ?? "", /^recorded, not yet applied to noop: connect ECONNREFUSED/);

    await h.advance(10_000);
    assert.equal(h.weight(), 5, "retried, still down");
    assert.equal(
      (await types(h)).filter((t) => t === "traffic.pending").length,
      1,
      "recorded once",
    );
    h.router.down = undefined;
    await h.advance(20_000);
    assert.equal(h.canary(), null, "applied once the engine answers");
    assert.equal(h.controller.trafficStatus("shop")?.applied, true);
    assert.equal(h.controller.trafficStatus("shop")?.why, undefined);
    const applied = (await h.controller.history("shop")).at(-1);
    assert.equal(applied?.type, "traffic.applied");
    assert.match(
      applied?.reason ?? "",
      /noop serves the recorded traffic of shop again, after \d+ attempts/,
    );
    assert.equal(
      (await h.controller.rollout("shop"))?.phase,
      "Aborted",
      "the decision never changed",
    );
  });

  it("does not widen the canary while the engine has not taken the weight", async () => {
    const h = await harness([
      shop({
        strategy: { steps: [{ setWeight: 10 }, { pause: { duration: "10s" } }, { setWeight: 50 }] },
      }),
    ]);
    await h.controller.deploy("shop", V2, "operator:alice");
    assert.equal(h.weight(), 10);
    h.router.down = "timed out after 2000 ms";
    await h.advance(11_000);
    const r = await h.controller.rollout("shop");
    assert.equal(r?.traffic.weight, 10, "held: the engine cannot be read back");
    assert.match(r?.reason ?? "", /setWeight 50%/, "at the step, waiting for the engine");
    assert.match(
      h.controller.trafficStatus("shop")?.why ?? "",
      /noop cannot be read back: timed out/,
    );
    h.router.down = undefined;
    await h.advance(40_000);
    assert.equal((await h.controller.rollout("shop"))?.phase, "Healthy");
  });

  it("re-applies what the engine lost or was edited to, every tick, for services without a rollout too", async () => {
    const h = await harness([shop(), { name: "web", match: { pathPrefix: "/web" }, stable: V2 }]);
    await h.controller.deploy("shop", V2, "operator:alice");
    const before = h.router.states.get("shop");
    assert.ok(before);
    // A person sets the canary to 100 % with the engine's own tools.
    h.router.states.set("shop", { ...before, weight: 100 });
    // The engine restarts from its original configuration: web is gone.
    h.router.states.delete("web");
    await h.advance(1_000);
    assert.equal(h.weight(), 5, "repaired");
    assert.ok(h.router.states.has("web"), "web served again");
    const drifts = [
      ...(await h.controller.history("shop")),
      ...(await h.controller.history("web")),
    ].filter((e) => e.type === "traffic.drift");
    assert.equal(drifts.length, 2);
    assert.match(drifts.find((e) => e.service === "shop")?.reason ?? "", /weight 5 but 100 served/);
    assert.match(drifts.find((e) => e.service === "web")?.reason ?? "", /does not serve it/);
    assert.deepEqual(servedOf(h.router.states.get("web") ?? before).stable, "v2");
  });

  it("holds the rollout while the measured split is far from the weight, and lets it go when it agrees", async () => {
    let canaryShare = 0.5; // the engine sends half the requests to the canary whatever it is told
    const split: SplitReader = (_service, version, from, to) => {
      const n = Math.round((to - from) / 1000) * 20;
      return version === "v2" ? Math.round(n * canaryShare) : Math.round(n * (1 - canaryShare));
    };
    const h = await harness(
      [
        shop({
          strategy: {
            steps: [{ setWeight: 10 }, { pause: { duration: "30s" } }, { setWeight: 20 }],
          },
        }),
      ],
      { split },
    );
    await h.controller.deploy("shop", V2, "operator:alice");
    await h.advance(40_000);
    const doubt = (await h.controller.history("shop")).find((e) => e.type === "traffic.split");
    assert.ok(doubt, "a split event was recorded");
    assert.match(doubt.reason, /the canary got 50 % of \d+ requests .* at weight 10 %/);
    assert.equal((await h.controller.rollout("shop"))?.traffic.weight, 10, "held at 10 %");
    assert.match(h.controller.trafficStatus("shop")?.why ?? "", /the canary got 50 %/);
    canaryShare = 0.1;
    await h.advance(70_000);
    assert.equal((await h.controller.rollout("shop"))?.phase, "Healthy");
  });
});
