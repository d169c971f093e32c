import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Spec } from "../spec/schema.js";
import { harness, open, type ServiceInput, shop, V1, V2, V3 } from "./test-harness.js";

describe("rollout controller", () => {
  it("takes a canary through its steps, waits at the manual pause, and promotes at the end", async () => {
    const h = await harness([shop()]);
    const r = await h.controller.deploy("shop", V2, "operator:alice");
    assert.equal(r.phase, "Paused", "step 1 set 5% and step 2 is a timed pause");
    assert.equal(h.weight(), 5);
    assert.equal(h.canary(), "v2");

    await h.advance(59_000);
    assert.equal(h.weight(), 5, "still pausing after 59 s");
    await h.advance(2_000);
    assert.equal(h.weight(), 25);
    let now = (await h.controller.rollout("shop"))!;
    assert.equal(now.phase, "Paused");
    assert.equal(now.stepIndex, 3);
    assert.ok(now.pausedAt !== null, "waiting for a person");

    await h.advance(3_600_000);
    assert.equal(h.weight(), 25, "a manual pause waits however long it takes");

    now = await h.controller.promote("shop", false, "operator:alice");
    assert.equal(now.phase, "Healthy");
    assert.equal(h.stable(), "v2");
    assert.equal(h.canary(), null);
    assert.deepEqual((await h.controller.service("shop")).previousStable, V1);

    const types = (await h.controller.history("shop")).map(
      (e) => `${e.type}${e.weight === null ? "" : `@${e.weight}`}`,
    );
    assert.deepEqual(types, [
      "service.created@0",
      "rollout.started@0",
      "weight.set@5",
      "step.started@5",
      "step.started@5",
      "weight.set@25",
      "step.started@25",
      "step.started@25",
      "weight.set@50",
      "step.started@50",
      "weight.set@100",
      "step.started@100",
      "promoted@0",
    ]);
    const promoted = (await h.controller.history("shop")).at(-1)!;
    assert.equal(promoted.actor, "controller");
    assert.match(promoted.reason, /promoted v2/);
  });

  it("aborts at once, idempotently, and retries from step 0", async () => {
    const h = await harness([shop()]);
    await h.controller.deploy("shop", V2, "operator:alice");
    const aborted = await h.controller.abort("shop", "operator:bob", "errors in the logs");
    assert.equal(aborted.phase, "Aborted");
    assert.equal(h.canary(), null, "the canary is cut off entirely, routes included");
    assert.equal(h.weight(), 0);
    assert.match(aborted.reason, /aborted by operator:bob: errors in the logs/);
    const eventsBefore = (await h.controller.history("shop")).length;
    await h.controller.abort("shop", "operator:bob");
    assert.equal(
      (await h.controller.history("shop")).length,
      eventsBefore,
      "a second abort changes nothing",
    );

    const retried = await h.controller.retry("shop", "operator:alice");
    assert.notEqual(retried.id, aborted.id, "a retry is a new attempt");
    assert.equal(retried.stepIndex, 1);
    assert.equal(
      (await h.store.getRollout(aborted.id))!.phase,
      "Aborted",
      "the aborted attempt stays in the history",
    );
    assert.equal((await h.controller.history("shop")).at(-3)!.type, "rollout.retried");
    assert.equal(h.weight(), 5);
    assert.equal(h.canary(), "v2");
  });

  it("pause freezes a timed pause and resume gives back the remaining time", async () => {
    const h = await harness([shop()]);
    await h.controller.deploy("shop", V2, "operator:alice");
    await h.advance(20_000);
    await h.controller.pause("shop", "operator:alice");
    await h.advance(600_000);
    assert.equal(h.weight(), 5, "paused: nothing moves");
    const again = await h.controller.pause("shop", "operator:alice");
    assert.equal(again.phase, "Paused", "pausing twice is harmless");
    await h.controller.resume("shop", "operator:alice");
    await assert.rejects(h.controller.resume("shop", "operator:alice"), /not paused/);
    await h.advance(39_000);
    assert.equal(h.weight(), 5, "40 s of the minute were left after resuming");
    await h.advance(2_000);
    assert.equal(h.weight(), 25);
  });

  it("refuses resume at a manual pause (promote is the way on) and commands on a finished rollout", async () => {
    const h = await harness([shop()]);
    await h.controller.deploy("shop", V2, "operator:alice");
    await h.advance(61_000);
    await assert.rejects(
      h.controller.resume("shop", "operator:alice"),
      /manual pause step: use promote/,
    );
    await h.controller.promote("shop", true, "operator:alice");
    await assert.rejects(h.controller.pause("shop", "operator:alice"), /Healthy; use undo/);
    await assert.rejects(h.controller.retry("shop", "operator:alice"), /only an aborted rollout/);
  });

  it("promote --full skips the remaining steps", async () => {
    const h = await harness([shop()]);
    await h.controller.deploy("shop", V2, "operator:alice");
    const r = await h.controller.promote("shop", true, "operator:alice");
    assert.equal(r.phase, "Healthy");
    assert.equal(h.stable(), "v2");
    assert.match((await h.controller.history("shop")).at(-1)!.reason, /full promotion/);
  });

  it("undo puts the previous stable back after a promotion, and undo again toggles forward", async () => {
    const h = await harness([shop()]);
    await h.controller.deploy("shop", V2, "operator:alice");
    await h.controller.promote("shop", true, "operator:alice");
    await h.controller.undo("shop", "operator:alice");
    assert.equal(h.stable(), "v1");
    await h.controller.undo("shop", "operator:alice");
    assert.equal(h.stable(), "v2");
  });

  it("a newer canary supersedes an active rollout, which starts again from step 0", async () => {
    const h = await harness([shop()]);
    const first = await h.controller.deploy("shop", V2, "operator:alice");
    await h.advance(61_000);
    assert.equal(h.weight(), 25);
    const second = await h.controller.deploy("shop", V3, "operator:alice");
    assert.notEqual(second.id, first.id);
    assert.equal(h.canary(), "v3");
    assert.equal(h.weight(), 5);
    const old = (await h.store.getRollout(first.id))!;
    assert.equal(old.phase, "Aborted");
    assert.match(old.reason, /superseded by v3/);
    const again = await h.controller.deploy("shop", V3, "operator:alice");
    assert.equal(again.id, second.id, "deploying the same canary twice is idempotent");
  });

  it("aborts when every canary target is down", async () => {
    const h = await harness([shop()]);
    await h.controller.deploy("shop", V2, "operator:alice");
    h.router.availability.set("shop", false);
    await h.advance(1_000);
    const r = (await h.controller.rollout("shop"))!;
    assert.equal(r.phase, "Aborted");
    assert.match(r.reason, /every canary target is down/);
    assert.equal(h.canary(), null);
  });

  it("aborts a step that cannot complete within the progress deadline", async () => {
    const h = await harness([
      shop({
        strategy: { steps: [{ setWeight: 10 }], progressDeadline: "2m", abortOnTargetsDown: false },
      }),
    ]);
    h.router.availability.set("shop", false);
    await h.controller.deploy("shop", V2, "operator:alice");
    await h.advance(119_000);
    assert.equal((await h.controller.rollout("shop"))!.phase, "Progressing");
    await h.advance(2_000);
    const r = (await h.controller.rollout("shop"))!;
    assert.equal(r.phase, "Aborted");
    assert.match(
      r.reason,
      /progress deadline exceeded: setWeight 10% did not complete within 2m \(no canary target is available\)/,
    );
  });

  it("holds full weight before promoting, and waits at a promotion gate when auto is off", async () => {
    const h = await harness([
      shop({ strategy: { steps: [{ setWeight: 50 }], promotion: { hold: "5m", auto: false } } }),
    ]);
    await h.controller.deploy("shop", V2, "operator:alice");
    assert.equal(h.weight(), 100);
    assert.equal((await h.controller.rollout("shop"))!.phase, "Promoting");
    await h.advance(301_000);
    const gated = (await h.controller.rollout("shop"))!;
    assert.equal(gated.phase, "Paused");
    assert.match(gated.reason, /waiting for promotion/);
    assert.equal(h.stable(), "v1");
    await assert.rejects(h.controller.resume("shop", "operator:alice"), /promotion gate/);
    await h.controller.promote("shop", false, "operator:alice");
    assert.equal(h.stable(), "v2");
  });

  it("runs header-route and mirror steps, and removes managed routes at the end", async () => {
    const h = await harness([
      shop({
        strategy: {
          steps: [
            {
              setHeaderRoute: {
                name: "beta",
                match: { headers: { "user-type": { exact: "beta-tester" } } },
              },
            },
            { setMirror: { percent: 20 } },
            { pause: {} },
            { setHeaderRoute: { name: "beta" } },
            { setMirror: { percent: 0 } },
            { pause: {} },
          ],
        },
      }),
    ]);
    await h.controller.deploy("shop", V2, "operator:alice");
    let t = h.router.states.get("shop")!;
    assert.deepEqual(
      t.headerRoutes.map((r) => r.name),
      ["beta"],
    );
    assert.equal(t.mirror?.percent, 20);
    assert.equal(t.weight, 0);
    await h.controller.promote("shop", false, "operator:alice");
    t = h.router.states.get("shop")!;
    assert.deepEqual(t.headerRoutes, []);
    assert.equal(t.mirror, null);
    await h.controller.promote("shop", false, "operator:alice");
    assert.equal(h.stable(), "v2");
  });

  it("blue/green: the new version behind a preview route at 0 %, then everything at once", async () => {
    const h = await harness([
      shop({
        strategy: {
          blueGreen: {
            preview: { headers: { "x-preview": { exact: "1" } } },
            autoPromotionAfter: "10m",
          },
        },
      }),
    ]);
    await h.controller.deploy("shop", V2, "operator:alice");
    const t = h.router.states.get("shop")!;
    assert.equal(t.weight, 0);
    assert.deepEqual(
      t.headerRoutes.map((r) => r.name),
      ["preview"],
    );
    await h.advance(599_000);
    assert.equal(h.stable(), "v1");
    await h.advance(2_000);
    assert.equal(h.stable(), "v2");
    assert.equal(h.canary(), null);
  });

  it("resumes after a restart exactly where it stood, with the pause time computed from stored timestamps", async () => {
    const first = await harness([shop()]);
    await first.controller.deploy("shop", V2, "operator:alice");
    await first.advance(30_000);
    const eventsBefore = (await first.controller.history("shop")).length;
    await first.controller.stop();
    await first.store.close();
    open.splice(open.indexOf(first), 1);

    first.clock.advance(20_000); // the process was down for 20 s
    const second = await harness([shop()], { file: first.file, clock: first.clock });
    assert.equal(second.weight(), 5, "the stored traffic is re-applied at start");
    assert.equal(
      (await second.controller.history("shop")).length,
      eventsBefore,
      "nothing repeated on start",
    );
    await second.advance(9_000);
    assert.equal(second.weight(), 5);
    await second.advance(2_000);
    assert.equal(
      second.weight(),
      25,
      "the minute counted from when the pause began, across the restart",
    );
  });

  it("restarts against the spec applied before: a rollout started by deploy is not superseded by the spec's canary", async () => {
    const spec = [shop({ canary: V2 })];
    const first = await harness(spec);
    assert.equal(first.canary(), "v2", "the spec's canary rolls out");
    await first.controller.abort("shop", "operator:alice");
    await first.controller.deploy("shop", V3, "operator:alice");
    await first.advance(5_000);
    assert.equal(first.canary(), "v3");
    const eventsBefore = (await first.controller.history("shop")).length;
    await first.controller.stop();
    await first.store.close();
    open.splice(open.indexOf(first), 1);

    // A new leader (or a restart) runs the same applied spec, with it as the previous spec.
    const second = await harness(spec, { file: first.file, clock: first.clock, previous: spec });
    assert.equal(second.canary(), "v3", "the running rollout goes on");
    assert.equal((await second.controller.rollout("shop"))?.canary.version, "v3");
    assert.equal((await second.controller.history("shop")).length, eventsBefore);

    // A changed spec is still measured against the previous one: a new canary rolls out.
    await second.controller.stop();
    await second.store.close();
    open.splice(open.indexOf(second), 1);
    const third = await harness([shop({ canary: { version: "v4", targets: V3.targets } })], {
      file: first.file,
      clock: first.clock,
      previous: spec,
    });
    assert.equal(third.canary(), "v4", "a canary the previous spec did not name supersedes");
  });

  it("applies specs: a new canary rolls out, re-applying is a no-op, removing the canary aborts, an aborted canary is not redeployed", async () => {
    const h = await harness([shop()]);
    const parse = (svc: ServiceInput) => Spec.parse({ services: [svc] }).services;
    let changes = await h.controller.applySpec(parse(shop({ canary: V2 })), "operator:alice", {
      dryRun: true,
    });
    assert.deepEqual(
      changes.map((c) => c.kind),
      ["deploy"],
    );
    assert.equal(h.canary(), null, "a dry run changes nothing");
    await h.controller.applySpec(parse(shop({ canary: V2 })), "operator:alice", { dryRun: false });
    assert.equal(h.canary(), "v2");
    changes = await h.controller.applySpec(parse(shop({ canary: V2 })), "operator:alice", {
      dryRun: false,
    });
    assert.deepEqual(changes, []);
    await h.controller.applySpec(parse(shop()), "operator:alice", { dryRun: false });
    assert.equal((await h.controller.rollout("shop"))!.phase, "Aborted");
    await h.controller.applySpec(parse(shop({ canary: V2 })), "operator:alice", { dryRun: false });
    assert.equal(
      (await h.controller.rollout("shop"))!.phase,
      "Paused",
      "the canary was deployed again after the spec dropped it",
    );
    assert.equal(h.canary(), "v2");
    await h.controller.abort("shop", "operator:alice");
    changes = await h.controller.applySpec(parse(shop({ canary: V2 })), "operator:alice", {
      dryRun: false,
    });
    assert.deepEqual(changes, [], "an aborted canary stays aborted until retried");
    await h.controller.retry("shop", "operator:alice");
    await h.controller.promote("shop", true, "operator:alice");
    changes = await h.controller.applySpec(parse(shop({ canary: V2 })), "operator:alice", {
      dryRun: false,
    });
    assert.deepEqual(changes, [], "a promoted canary in the spec is already stable");
    changes = await h.controller.applySpec(
      parse(shop({ timeouts: { response: "5s" } })),
      "operator:alice",
      { dryRun: true },
    );
    assert.deepEqual(
      changes.map((c) => [c.kind, c.summary]),
      [["config", "changed timeouts"]],
      "the promoted v2 stays: the spec did not change its stable",
    );
    changes = await h.controller.applySpec(parse(shop({ stable: V3 })), "operator:alice", {
      dryRun: true,
    });
    assert.deepEqual(
      changes.map((c) => c.summary),
      ["stable set directly to v3 (was v2); no rollout"],
    );
  });

  it("refuses to deploy to a service without a strategy, an unknown service, or the stable version", async () => {
    const h = await harness([
      shop(),
      { name: "static", match: { pathPrefix: "/static" }, stable: V1 },
    ]);
    await assert.rejects(h.controller.deploy("static", V2, "operator:alice"), /no strategy/);
    await assert.rejects(
      h.controller.deploy("nope", V2, "operator:alice"),
      /no service named nope/,
    );
    await assert.rejects(
      h.controller.deploy("shop", V1, "operator:alice"),
      /already the stable version/,
    );
  });
});
