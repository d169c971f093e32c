/**
 * A flag rolled out by the controller as a service is: its steps set the share of users who get
 * the new variant, an abort gives everyone the control, a promotion everyone the new variant,
 * and the engine never hears of it. A real SQLite store, the served flags on it, a manual clock.
 */

import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { BySubject } from "../providers/traffic/by-subject.js";
import { FlagTrafficProvider, flagSink } from "../providers/traffic/flags/index.js";
import { NoopTrafficProvider } from "../providers/traffic/noop/index.js";
import { Controller } from "../rollout/controller.js";
import { Spec, type SpecInput } from "../spec/schema.js";
import { openSqliteStore } from "../store/sqlite/sqlite-store.js";
import type { Store } from "../store/store.js";
import { ManualClock } from "../util/clock.js";
import { silentLogger } from "../util/log.js";
import { ServedFlags } from "./served.js";

const SUBJECT = "flag:new-checkout";

const spec = (flag: Record<string, unknown> = {}): Spec =>
  Spec.parse({
    services: [
      {
        name: "shop",
        match: { pathPrefix: "/" },
        stable: { version: "v1", targets: ["http://127.0.0.1:9001"] },
      },
    ],
    flags: [
      {
        key: "new-checkout",
        type: "boolean",
        variants: { on: true, off: false },
        defaultVariant: "off",
        rules: [{ when: [{ attribute: "user-type", equals: "beta-tester" }], variant: "on" }],
        rollout: { variant: "on" },
        strategy: {
          steps: [
            { setWeight: 10 },
            { pause: { duration: "1m" } },
            { setWeight: 50 },
            { pause: {} },
          ],
        },
        ...flag,
      },
    ],
  } satisfies SpecInput);

interface Run {
  clock: ManualClock;
  store: Store;
  engine: NoopTrafficProvider;
  served: ServedFlags;
  controller: Controller;
  advance(ms: number): Promise<void>;
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

const settle = () => new Promise((r) => setImmediate(r));

async function run(
  s: Spec,
  file = join(mkdtempSync(join(tmpdir(), "aviary-flag-")), "a.db"),
): Promise<Run> {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const store = openSqliteStore(file);
  const served = new ServedFlags({ store, log: silentLogger() });
  await served.start();
  const engine = new NoopTrafficProvider();
  const controller = new Controller({
    store,
    router: new BySubject(engine, new FlagTrafficProvider(flagSink(served))),
    clock,
    log: silentLogger(),
    onSpecCommitted: () => served.refresh(),
  });
  open.push(async () => {
    await controller.stop();
    served.close();
    await store.close();
  });
  await controller.start(s.services, s.analysisTemplates, "start", undefined, s.flags);
  await served.settled();
  return {
    clock,
    store,
    engine,
    served,
    controller,
    async advance(ms) {
      for (let left = ms; left > 0; left -= 1000) {
        clock.advance(Math.min(1000, left));
        for (let i = 0; i < 5; i++) await settle();
      }
    },
  };
}

/** The share of 10,000 users the served flag gives `on`, and what a beta tester gets. */
function shares(served: ServedFlags): { on: number; beta: string } {
  const flag = served.current.flags.get("new-checkout");
  assert.ok(flag, "the flag is served");
  let on = 0;
  for (let i = 0; i < 10_000; i++)
    if (flag.evaluate({ targetingKey: `user-${i}` }).variant === "on") on++;
  const beta = flag.evaluate({ targetingKey: "b", "user-type": "beta-tester" }).variant;
  return { on: on / 10_000, beta };
}

describe("a flag with a strategy", () => {
  it("is rolled out step by step as the subject flag:<key>, and the engine never sees it", async () => {
    const r = await run(spec());
    const rollout = await r.controller.rollout(SUBJECT);
    assert.equal(rollout?.phase, "Paused");
    assert.equal(rollout?.traffic.weight, 10);
    assert.deepEqual(
      r.engine.services.map((s) => s.name),
      ["shop"],
      "the engine serves the services only",
    );
    assert.equal(r.engine.states.has(SUBJECT), false);
    const at10 = shares(r.served);
    assert.ok(Math.abs(at10.on - 0.1) < 0.015, `about 10 % get it: ${at10.on}`);
    assert.equal(at10.beta, "on", "the beta testers' rule still gives them the new variant");
    const before = new Set<number>();
    const flag10 = r.served.current.flags.get("new-checkout");
    for (let i = 0; i < 2_000; i++)
      if (flag10?.evaluate({ targetingKey: `user-${i}` }).variant === "on") before.add(i);
    await r.advance(61_000);
    assert.equal((await r.controller.rollout(SUBJECT))?.traffic.weight, 50);
    const at50 = shares(r.served);
    assert.ok(Math.abs(at50.on - 0.5) < 0.02, `about 50 % get it: ${at50.on}`);
    const flag50 = r.served.current.flags.get("new-checkout");
    for (const i of before)
      assert.equal(
        flag50?.evaluate({ targetingKey: `user-${i}` }).variant,
        "on",
        `user-${i} keeps it`,
      );
    const history = await r.controller.history(SUBJECT);
    assert.ok(
      history.some((e) => e.type === "weight.set" && e.weight === 50),
      "the history has the steps",
    );
  });

  it("says its traffic is carried by the flags, and an engine that is down does not hold it", async () => {
    const r = await run(spec());
    r.engine.down = "connect ECONNREFUSED 127.0.0.1:9999";
    await r.advance(3_000);
    const shop = r.controller.trafficStatus("shop");
    assert.equal(shop?.engine, "noop");
    assert.match(shop?.why ?? "", /ECONNREFUSED/, JSON.stringify(shop));
    const flag = r.controller.trafficStatus(SUBJECT);
    assert.deepEqual(flag && { engine: flag.engine, applied: flag.applied, why: flag.why }, {
      engine: "flags",
      applied: true,
      why: undefined,
    });
    const aborted = await r.controller.abort(SUBJECT, "operator:test", "errors");
    assert.equal(aborted.phase, "Aborted");
    assert.equal(aborted.reason.includes("not yet applied"), false, aborted.reason);
    assert.equal(shares(r.served).on, 0, "the abort reached the flag with the engine down");
  });

  it("gives everyone the control variant on abort, beta testers included", async () => {
    const r = await run(spec());
    const aborted = await r.controller.abort(SUBJECT, "operator:test", "errors");
    assert.equal(aborted.phase, "Aborted");
    assert.deepEqual(shares(r.served), { on: 0, beta: "off" });
    // Applying the same spec again does not roll it out again (retry does).
    await r.controller.applySpec(spec().services, "spec", { dryRun: false, flags: spec().flags });
    assert.deepEqual(shares(r.served), { on: 0, beta: "off" });
    const retried = await r.controller.retry(SUBJECT, "operator:test");
    assert.equal(retried.traffic.weight, 10);
    assert.ok(shares(r.served).on > 0.05);
  });

  it("gives everyone the new variant once promoted, and the control again after undo", async () => {
    const r = await run(spec());
    const promoted = await r.controller.promote(SUBJECT, true, "operator:test");
    assert.equal(promoted.phase, "Healthy");
    assert.equal(shares(r.served).on, 1);
    await r.controller.applySpec(spec().services, "spec", { dryRun: false, flags: spec().flags });
    assert.equal(shares(r.served).on, 1, "an unchanged spec keeps the promotion");
    await r.controller.undo(SUBJECT, "operator:test");
    assert.deepEqual(shares(r.served), { on: 0, beta: "off" });
  });

  it("refuses deploy: the spec says which variant a flag rolls out", async () => {
    const r = await run(spec());
    await assert.rejects(
      r.controller.deploy(SUBJECT, { version: "off", targets: [] }, "operator:test"),
      /flag:new-checkout is a flag: set its rollout.variant in the spec/,
    );
  });

  it("is served the same by an instance that only reads the store", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "aviary-flag-")), "a.db");
    const r = await run(spec(), file);
    const other = openSqliteStore(file);
    const follower = new ServedFlags({ store: other, log: silentLogger() });
    open.push(async () => {
      follower.close();
      await other.close();
    });
    await follower.start();
    assert.equal(shares(follower).on, shares(r.served).on);
    await r.controller.abort(SUBJECT, "operator:test");
    follower.refresh();
    await follower.settled();
    assert.deepEqual(shares(follower), { on: 0, beta: "off" });
  });

  it("stops being rolled out when the spec drops its strategy, and serves the spec's percent", async () => {
    const r = await run(spec());
    const plain = spec({ strategy: undefined, rollout: { variant: "on", percent: 30 } });
    await r.controller.applySpec(plain.services, "spec", { dryRun: false, flags: plain.flags });
    await r.served.settled();
    const types = (await r.controller.history(SUBJECT)).map((e) => e.type);
    assert.deepEqual(types.slice(-2), ["aborted", "service.removed"]);
    const now = shares(r.served);
    assert.ok(Math.abs(now.on - 0.3) < 0.02, `the spec's 30 %: ${now.on}`);
  });
});
