/**
 * Applying specs to the controller: removing a service, all-or-nothing application, and
 * applications that never interleave.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AviaryError } from "../errors.js";
import { Spec } from "../spec/schema.js";
import { harness, open, type ServiceInput, shop, V1, V2 } from "./test-harness.js";

const parse = (services: ServiceInput[]) => Spec.parse({ services }).services;
const web: ServiceInput = { name: "web", match: { pathPrefix: "/web" }, stable: V1 };
const apply = (h: Awaited<ReturnType<typeof harness>>, services: ServiceInput[]) =>
  h.controller.applySpec(parse(services), "operator:alice", { dryRun: false });

describe("applying specs", () => {
  it("removes a service: its rollout aborted saying why, its routes gone, its history kept; re-adding creates it afresh", async () => {
    const h = await harness([shop({ canary: V2 }), web]);
    assert.equal((await h.controller.rollout("shop"))?.phase, "Paused", "rolling out v2");
    const rolloutId = (await h.controller.rollout("shop"))!.id;

    const changes = await apply(h, [web]);
    assert.deepEqual(
      changes.map((c) => [c.kind, c.service]),
      [["remove", "shop"]],
    );
    const aborted = (await h.store.getRollout(rolloutId))!;
    assert.equal(aborted.phase, "Aborted");
    assert.match(aborted.reason, /aborted by operator:alice: shop was removed from the spec/);
    assert.equal(await h.store.getService("shop"), undefined);
    assert.deepEqual(
      (await h.controller.services()).map((s) => s.name),
      ["web"],
    );
    assert.deepEqual(
      h.router.services.map((s) => s.name),
      ["web"],
      "the router no longer has its routes",
    );
    assert.equal(h.router.states.has("shop"), false);
    const history = await h.controller.history("shop");
    assert.deepEqual(
      history.slice(-2).map((e) => e.type),
      ["aborted", "service.removed"],
    );
    assert.match(
      history.at(-1)!.reason,
      /shop is no longer in the spec: its rollout of v2 is aborted/,
    );
    await assert.rejects(
      () => h.controller.service("shop"),
      (err: unknown) =>
        err instanceof AviaryError &&
        err.code === "AVIARY_UNKNOWN_SERVICE" &&
        /shop was removed from the spec; its history stays/.test(err.message),
    );
    await assert.rejects(
      h.controller.deploy("shop", V2, "operator:alice"),
      /removed from the spec/,
    );
    await assert.rejects(() => h.controller.history("never"), /no service named never/);

    // Time passes: nothing is left running for the removed service.
    const events = h.events.length;
    await h.advance(120_000);
    assert.equal(h.events.length, events, "no timer or tick acts for a removed service");

    const again = await apply(h, [web, shop()]);
    assert.deepEqual(
      again.map((c) => [c.kind, c.service]),
      [["create", "shop"]],
    );
    assert.equal((await h.controller.service("shop")).traffic.stable.version, "v1");
    assert.equal((await h.controller.service("shop")).rolloutId, null, "a fresh start");
    const continued = await h.controller.history("shop");
    assert.equal(continued.length, history.length + 1, "the history continues");
    assert.equal(continued.at(-1)!.type, "service.created");
    assert.deepEqual(
      h.router.services.map((s) => s.name),
      ["web", "shop"],
    );
  });

  it("removes a service left out of the spec it is started with (deleted from the file while Aviary was stopped)", async () => {
    const first = await harness([shop(), web]);
    await first.controller.deploy("shop", V2, "operator:alice");
    await first.controller.stop();
    await first.store.close();
    open.splice(open.indexOf(first), 1);

    const second = await harness([web], { file: first.file, clock: first.clock });
    assert.equal(await second.store.getService("shop"), undefined);
    assert.equal((await second.store.activeRollouts()).length, 0, "its rollout ended");
    assert.equal((await second.controller.history("shop")).at(-1)!.type, "service.removed");
    assert.deepEqual([...second.router.states.keys()], ["web"]);
  });

  it("refuses a spec its checks refuse, changing nothing; a dry run is refused the same way", async () => {
    const refuse = (services: readonly { name: string }[]) => {
      if (services.some((s) => s.name === "bad"))
        throw new AviaryError("AVIARY_SPEC_INVALID", "bad is refused");
    };
    const h = await harness([shop(), web], { validate: refuse });
    const bad = { ...web, name: "bad", match: { pathPrefix: "/bad" } };
    const before = {
      events: h.events.length,
      configured: h.router.configured,
      applied: h.router.applied,
    };
    await assert.rejects(apply(h, [shop({ canary: V2 }), bad]), /bad is refused/);
    await assert.rejects(
      h.controller.applySpec(parse([bad]), "operator:alice", { dryRun: true }),
      /bad is refused/,
    );
    assert.deepEqual(
      { events: h.events.length, configured: h.router.configured, applied: h.router.applied },
      before,
      "no event, no router call",
    );
    assert.deepEqual(
      (await h.controller.services()).map((s) => s.name),
      ["shop", "web"],
    );
    assert.equal(await h.controller.rollout("shop"), undefined, "v2 was not rolled out");
    assert.deepEqual(
      h.router.services.map((s) => s.name),
      ["shop", "web"],
    );
    const changes = await apply(h, [shop({ canary: V2 })]);
    assert.deepEqual(
      changes.map((c) => [c.kind, c.service]),
      [
        ["deploy", "shop"],
        ["remove", "web"],
      ],
      "the refused spec left nothing half-done behind",
    );
  });

  it("rolls back every write of a spec that fails midway, and the router keeps what it served", async () => {
    let failAt = 0;
    let commits = 0;
    const h = await harness([shop(), web], {
      faults: {
        beforeCommit: () => {
          if (++commits === failAt) throw new Error("the disk is full");
        },
      },
    });
    const storeBefore = await h.controller.services();
    const historyBefore = (await h.store.eventsAfter(0)).length;
    const routerBefore = { services: h.router.services, states: new Map(h.router.states) };
    // create new, start its rollout (2), roll out shop's v2 (3), remove web (4): fail at the third.
    failAt = commits + 3;
    const next: ServiceInput = {
      ...shop({ canary: V2 }),
      name: "new",
      match: { pathPrefix: "/new" },
    };
    await assert.rejects(apply(h, [shop({ canary: V2 }), next]), /the disk is full/);
    assert.deepEqual(await h.controller.services(), storeBefore);
    assert.equal((await h.store.eventsAfter(0)).length, historyBefore, "no event of it was kept");
    assert.equal((await h.store.activeRollouts()).length, 0);
    assert.equal(h.router.services, routerBefore.services, "the router was not reconfigured");
    assert.deepEqual(h.router.states, routerBefore.states);
    assert.equal(
      h.controller.spec("new"),
      undefined,
      "the controller did not take the spec either",
    );
    assert.ok(h.controller.spec("web"));

    failAt = 0;
    const changes = await apply(h, [shop({ canary: V2 }), next]);
    assert.deepEqual(
      changes.map((c) => [c.kind, c.service]),
      [
        ["deploy", "shop"],
        ["create", "new"],
        ["remove", "web"],
      ],
    );
    assert.equal((await h.controller.rollout("new"))?.phase, "Paused");
  });

  it("applies specs one at a time: the second plans on what the first committed", async () => {
    const h = await harness([shop(), web]);
    const first = apply(h, [shop({ canary: V2 })]);
    const second = apply(h, [shop({ canary: V2 }), web]);
    const [a, b] = await Promise.all([first, second]);
    assert.deepEqual(
      a.map((c) => [c.kind, c.service]),
      [
        ["deploy", "shop"],
        ["remove", "web"],
      ],
    );
    assert.deepEqual(
      b.map((c) => [c.kind, c.service]),
      [["create", "web"]],
      "planned after the first removed web, not before",
    );
    assert.deepEqual(
      (await h.controller.services()).map((s) => s.name),
      ["shop", "web"],
    );
    assert.deepEqual(
      (await h.controller.history("web")).map((e) => e.type),
      ["service.created", "service.removed", "service.created"],
    );
  });

  it("keeps the spec it runs in the store, one revision per application, in the spec's own transaction", async () => {
    let refusing = false;
    const h = await harness([shop(), web], {
      validate: () => {
        if (refusing) throw new AviaryError("AVIARY_SPEC_INVALID", "refused by the test");
      },
    });
    const first = await h.store.getAppliedSpec();
    assert.equal(first?.revision, 1);
    assert.equal(first?.source, "start");
    const names = (spec: unknown) =>
      (spec as { services: Array<{ name: string }> }).services.map((s) => s.name);
    assert.deepEqual(names(first?.spec), ["shop", "web"]);

    await h.controller.applySpec(parse([shop()]), "operator:alice", {
      dryRun: false,
      source: "api",
    });
    const second = await h.store.getAppliedSpec();
    assert.equal(second?.revision, 2);
    assert.equal(second?.source, "api");
    assert.deepEqual(
      names(second?.spec),
      ["shop"],
      "another instance reads the spec this one runs",
    );

    await h.controller.applySpec(parse([shop(), web]), "operator:alice", { dryRun: true });
    refusing = true;
    await assert.rejects(apply(h, [shop(), web]), /refused by the test/);
    assert.equal(
      (await h.store.getAppliedSpec())?.revision,
      2,
      "a dry run or a refused spec is not kept",
    );
  });

  it("moves a service's revision on by one with every write, from 1 when it is created", async () => {
    const h = await harness([shop()]);
    const revision = async () => (await h.store.getService("shop"))?.revision;
    assert.equal(await revision(), 1, "created");
    const before = h.events.length;
    await h.controller.deploy("shop", V2, "operator:alice");
    // Each transition writes the service once (rollout, traffic and event together).
    const transitions = h.events
      .slice(before)
      .filter((e) => e.rolloutId !== null && e.actor !== "router");
    assert.equal(await revision(), 1 + transitions.length);
    const promoted = await h.controller.promote("shop", true, "operator:alice");
    assert.equal(promoted.phase, "Healthy");
    const atPromotion = await revision();
    await h.controller.undo("shop", "operator:alice");
    assert.equal(await revision(), (atPromotion ?? 0) + 1, "undo wrote it once more");
  });
});
