import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { GateInput } from "../spec/notify.js";
import type { GateAnswer, GateCaller, GatePayload } from "./gate-poller.js";
import { harness, open, shop, V2 } from "./test-harness.js";

const HOOK = "http://127.0.0.1:9/gate";

/** A gate caller whose hooks answer what `answers[name]` says next (closed once it runs out). */
function fakeHooks(answers: Record<string, boolean[]>) {
  const calls: GatePayload[] = [];
  const caller: GateCaller = async (gate, payload) => {
    calls.push(payload);
    const open = answers[gate.name]?.shift() ?? false;
    const answer: GateAnswer = { open, status: open ? 200 : 503, message: open ? "" : "not yet" };
    return answer;
  };
  return { calls, caller, callsTo: (name: string) => calls.filter((c) => c.name === name) };
}

function gated(gates: GateInput[], steps?: unknown[]) {
  return shop({
    strategy: {
      steps: (steps ?? [{ setWeight: 5 }, { setWeight: 25 }, { pause: {} }]) as never,
      gates,
    },
  });
}

const typesOf = async (h: Awaited<ReturnType<typeof harness>>) =>
  (await h.controller.history("shop")).map((e) => `${e.type}/${e.actor}`);

describe("rollout gates", () => {
  it("holds a rollout at a confirm-rollout gate until an operator opens it", async () => {
    const h = await harness([gated([{ name: "change-board", type: "confirm-rollout" }])]);
    let r = await h.controller.deploy("shop", V2, "operator:alice");
    assert.equal(r.phase, "Waiting");
    assert.equal(h.weight(), 0, "no traffic moves before the gate opens");
    assert.match(r.reason, /waiting at gate change-board before any traffic moves/);
    assert.match(r.reason, /aviary gate open shop change-board/);

    await h.advance(3_600_000);
    assert.equal(h.weight(), 0, "a gate without a hook waits however long it takes");
    await assert.rejects(h.controller.promote("shop", false, "operator:alice"), {
      code: "AVIARY_AT_GATE",
    });
    await assert.rejects(h.controller.openGate("shop", "nope", "operator:alice"), {
      code: "AVIARY_UNKNOWN_GATE",
      message: /its gates: change-board/,
    });

    r = await h.controller.openGate("shop", "change-board", "operator:bob");
    assert.equal(h.weight(), 25, "both weight steps ran once the gate opened");
    assert.equal(r.phase, "Paused");
    const types = await typesOf(h);
    assert.ok(types.includes("gate.waiting/controller"));
    assert.ok(types.includes("gate.opened/operator:bob"));
    await assert.rejects(h.controller.openGate("shop", "change-board", "operator:bob"), {
      code: "AVIARY_GATE_NOT_WAITING",
    });
  });

  it("asks a confirm-traffic-increase hook on its interval before every increase", async () => {
    const hooks = fakeHooks({ load: [false, false, true, false, true] });
    const h = await harness(
      [gated([{ name: "load", type: "confirm-traffic-increase", url: HOOK, interval: "10s" }])],
      { gateCaller: hooks.caller },
    );
    const r = await h.controller.deploy("shop", V2, "operator:alice");
    assert.equal(r.phase, "Waiting");
    assert.match(r.reason, /before the weight goes to 5%/);
    await h.advance(1_000);
    assert.equal(hooks.callsTo("load").length, 1, "asked at once");
    await h.advance(5_000);
    assert.equal(hooks.callsTo("load").length, 1, "not again before its interval");
    await h.advance(15_000);
    // Asked at 0, 10 and 20 s; the third answer opened it, and the gate before 25 % was asked
    // at once (closed).
    assert.equal(hooks.callsTo("load").length, 4, "asked every 10 s");
    assert.equal(h.weight(), 5, "the third answer opened it");
    const first = hooks.callsTo("load")[0] as GatePayload;
    assert.deepEqual(
      { service: first.service, canary: first.canary, stable: first.stable, weight: first.weight },
      { service: "shop", canary: "v2", stable: "v1", weight: 0 },
    );
    // The next increase is asked again 10 s later (the fifth answer is open).
    await h.advance(11_000);
    assert.equal(h.weight(), 25);
    assert.ok((await typesOf(h)).includes("gate.opened/webhook:load"));
  });

  it("aborts when a pre-rollout hook keeps failing", async () => {
    const hooks = fakeHooks({ smoke: [false, false, false] });
    const h = await harness(
      [gated([{ name: "smoke", type: "pre-rollout", url: HOOK, interval: "5s", retries: 2 }])],
      { gateCaller: hooks.caller },
    );
    await h.controller.deploy("shop", V2, "operator:alice");
    await h.advance(20_000);
    const r = await h.controller.rollout("shop");
    assert.equal(r?.phase, "Aborted");
    assert.match(r?.reason ?? "", /pre-rollout gate failed 3 times/);
    assert.equal(hooks.callsTo("smoke").length, 3);
    assert.equal(h.weight(), 0);
    assert.ok((await typesOf(h)).includes("aborted/webhook:smoke"));
  });

  it("rolls back when a rollback hook answers 2xx", async () => {
    const hooks = fakeHooks({ pager: [false, false, true] });
    const h = await harness(
      [gated([{ name: "pager", type: "rollback", url: HOOK, interval: "10s" }])],
      { gateCaller: hooks.caller },
    );
    await h.controller.deploy("shop", V2, "operator:alice");
    assert.equal(h.weight(), 25);
    await h.advance(15_000);
    assert.equal(
      (await h.controller.rollout("shop"))?.phase,
      "Paused",
      "a non-2xx answer changes nothing",
    );
    await h.advance(10_000);
    const r = await h.controller.rollout("shop");
    assert.equal(r?.phase, "Aborted");
    assert.match(r?.reason ?? "", /rollback gate answered 200/);
    assert.equal(h.weight(), 0);
  });

  it("opens a rollback gate through the API as an abort", async () => {
    const h = await harness([gated([{ name: "pager", type: "rollback" }])]);
    await h.controller.deploy("shop", V2, "operator:alice");
    const r = await h.controller.openGate("shop", "pager", "operator:carol");
    assert.equal(r.phase, "Aborted");
    assert.equal(h.weight(), 0);
  });

  it("waits at confirm-promotion before full weight, then tells post-rollout hooks", async () => {
    const hooks = fakeHooks({ done: [true] });
    const h = await harness(
      [
        gated(
          [
            { name: "release-manager", type: "confirm-promotion" },
            { name: "done", type: "post-rollout", url: HOOK },
          ],
          [{ setWeight: 50 }],
        ),
      ],
      { gateCaller: hooks.caller },
    );
    let r = await h.controller.deploy("shop", V2, "operator:alice");
    assert.equal(r.phase, "Waiting");
    assert.equal(h.weight(), 50, "held before the canary takes all traffic");
    r = await h.controller.openGate("shop", "release-manager", "operator:dave");
    assert.equal(r.phase, "Healthy");
    assert.equal(h.stable(), "v2");
    await h.advance(1_000);
    const told = hooks.callsTo("done");
    assert.equal(told.length, 1);
    assert.equal(told[0]?.phase, "Healthy");
    const last = (await h.controller.history("shop")).at(-1);
    assert.equal(last?.type, "gate.told");
    assert.match(last?.reason ?? "", /post-rollout gate done was told/);
  });

  it("stays held at a gate across a pause and a restart, and never re-asks a passed gate", async () => {
    const gates: GateInput[] = [
      { name: "change-board", type: "confirm-rollout" },
      { name: "load", type: "confirm-traffic-increase" },
    ];
    const first = await harness([gated(gates)]);
    await first.controller.deploy("shop", V2, "operator:alice");
    await first.controller.pause("shop", "operator:alice");
    let r = await first.controller.resume("shop", "operator:alice");
    assert.equal(r.phase, "Waiting", "resuming a paused rollout leaves it held at its gate");
    r = await first.controller.openGate("shop", "change-board", "operator:bob");
    assert.equal(r.phase, "Waiting");
    assert.deepEqual(r.gates.waiting?.gates, ["load"]);
    assert.equal(r.gates.waiting?.point, "step0");

    await first.controller.stop();
    await first.store.close();
    open.splice(open.indexOf(first), 1);
    const second = await harness([gated(gates)], { file: first.file, clock: first.clock });
    await second.advance(2_000);
    r = (await second.controller.rollout("shop")) as typeof r;
    assert.equal(r.phase, "Waiting");
    assert.deepEqual(r.gates.passed, ["change-board@start"]);
    r = await second.controller.openGate("shop", "load", "operator:bob");
    assert.equal(second.weight(), 5);
    assert.equal(r.phase, "Waiting", "and again before 25 %");
    assert.equal(r.gates.waiting?.point, "step1");
  });
});
