import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gate, rollout, T0 } from "./fixtures.js";
import { countdownOf, currentItem, type TimelineItem, timelineOf } from "./timeline.js";

const marks = (items: TimelineItem[]) =>
  items.map(
    (i) =>
      `${i.state === "done" ? "✓" : i.state === "current" ? "▶" : i.state === "failed" ? "✗" : " "} ${i.label}`,
  );

describe("step timeline", () => {
  it("ticks the steps done, marks the current one, and ends with the promotion", () => {
    const r = rollout({ stepIndex: 2, phase: "Progressing", reason: "step 3/5: setWeight 40%" });
    const items = timelineOf(r, T0);
    assert.deepEqual(marks(items), [
      "✓ Set weight to 10%",
      "✓ Pause 30s",
      "▶ Set weight to 40%",
      "  Pause until promoted",
      "  Set weight to 100%",
      "  Promotion",
    ]);
    assert.equal(currentItem(items), 2);
    assert.equal(items[2]?.number, 3);
    assert.equal(items[2]?.note, "step 3/5: setWeight 40%");
  });

  it("counts a timed pause down on the server's clock, and freezes it while an operator pause holds it", () => {
    const r = rollout({ stepIndex: 1, phase: "Paused", stepStartedAt: T0 });
    const item = timelineOf(r, T0 + 12_000)[1];
    assert.deepEqual(item?.countdown, {
      kind: "pause",
      totalMs: 30_000,
      leftMs: 18_000,
      frozen: false,
    });
    const held = rollout({
      stepIndex: 1,
      phase: "Paused",
      stepStartedAt: T0,
      pausedAt: T0 + 20_000,
    });
    const frozen = timelineOf(held, T0 + 90_000)[1];
    assert.deepEqual(frozen?.countdown, {
      kind: "pause",
      totalMs: 30_000,
      leftMs: 10_000,
      frozen: true,
    });
    assert.equal(frozen?.note, "paused by an operator 1m 10s ago");
    assert.equal(countdownOf(rollout({ stepIndex: 1, phase: "Paused" }), T0 + 45_000)?.leftMs, 0);
  });

  it("says a manual pause waits for promote", () => {
    const r = rollout({ stepIndex: 3, phase: "Paused", pausedAt: T0 });
    const items = timelineOf(r, T0 + 5_000);
    assert.equal(items[3]?.note, "waiting for promote");
    assert.equal(items[3]?.countdown, null);
  });

  it("counts the promotion hold down at full weight", () => {
    const base = rollout();
    const r = rollout({
      stepIndex: 5,
      phase: "Promoting",
      stepStartedAt: T0,
      traffic: { ...base.traffic, weight: 100 },
      strategy: { ...(base.strategy as object), promotionHoldMs: 60_000 },
    });
    const items = timelineOf(r, T0 + 15_000);
    const promotion = items.at(-1);
    assert.equal(promotion?.state, "current");
    assert.deepEqual(promotion?.countdown, {
      kind: "hold",
      totalMs: 60_000,
      leftMs: 45_000,
      frozen: false,
    });
  });

  it("places gates where they hold: at the start, before each weight increase, before promotion", () => {
    const r = rollout({
      strategyGates: [
        gate("change-board", "confirm-rollout"),
        gate("load", "confirm-traffic-increase", true),
        gate("release", "confirm-promotion"),
        gate("pager", "rollback", true),
      ],
      steps: [{ setWeight: 10 }, { setWeight: 5 }, { setWeight: 50 }],
    });
    assert.deepEqual(
      timelineOf(r, T0).map((i) => i.key),
      [
        "gate:change-board@start",
        "gate:load@step0",
        "step0",
        "step1",
        "gate:load@step2",
        "step2",
        "gate:release@promotion",
        "promotion",
      ],
      "no gate before a decrease; rollback gates hold nowhere",
    );
  });

  it("shows the gate it waits at as current, with who can open it; passed gates ticked", () => {
    const r = rollout({
      phase: "Waiting",
      stepIndex: 2,
      strategyGates: [
        gate("change-board", "confirm-rollout"),
        gate("load", "confirm-traffic-increase", true),
      ],
      steps: [{ setWeight: 10 }, { pause: { duration: "1m" } }, { setWeight: 50 }],
    });
    r.gates = {
      passed: ["change-board@start", "load@step0"],
      waiting: { point: "step2", gates: ["load"], since: T0 },
    };
    const items = timelineOf(r, T0);
    const byKey = new Map(items.map((i) => [i.key, i]));
    assert.equal(byKey.get("gate:change-board@start")?.state, "done");
    assert.equal(byKey.get("gate:load@step0")?.state, "done");
    const waiting = byKey.get("gate:load@step2");
    assert.equal(waiting?.state, "current");
    assert.deepEqual(waiting?.gate, {
      name: "load",
      type: "confirm traffic increase",
      hasHook: true,
    });
    assert.match(waiting?.note ?? "", /hook answers 2xx, or by an operator/);
    assert.deepEqual(
      [byKey.get("step2")?.state, byKey.get("step2")?.note],
      ["upcoming", "after gate load"],
      "the step behind the gate has not begun",
    );
    assert.equal(items.filter((i) => i.state === "current").length, 1, "one place it is at");
    assert.equal(
      currentItem(items),
      items.indexOf(waiting as TimelineItem),
      "the gate is where it is",
    );
  });

  it("a gate without a hook says only an operator can open it", () => {
    const r = rollout({
      phase: "Waiting",
      strategyGates: [gate("change-board", "confirm-rollout")],
    });
    r.gates = { passed: [], waiting: { point: "start", gates: ["change-board"], since: T0 } };
    const items = timelineOf(r, T0);
    assert.equal(items[0]?.note, "waiting: only an operator can open it");
    assert.deepEqual(
      marks(items).slice(0, 2),
      ["▶ Gate change-board", "  Set weight to 10%"],
      "no traffic has moved: step 1 has not begun",
    );
  });

  it("ticks everything once promoted, and marks where an aborted rollout stopped", () => {
    const healthy = timelineOf(rollout({ phase: "Healthy", stepIndex: 5 }), T0);
    assert.ok(healthy.every((i) => i.state === "done"));
    assert.equal(healthy.at(-1)?.note, "v2 is stable");
    const aborted = timelineOf(rollout({ phase: "Aborted", stepIndex: 2 }), T0);
    assert.deepEqual(marks(aborted).slice(0, 4), [
      "✓ Set weight to 10%",
      "✓ Pause 30s",
      "✗ Set weight to 40%",
      "  Pause until promoted",
    ]);
    assert.equal(aborted[2]?.note, "aborted here");
    assert.equal(aborted[2]?.countdown, null);
  });

  it("reads a strategy it does not understand as no steps rather than failing", () => {
    const r = rollout({ strategy: "garbage" as unknown as object });
    assert.deepEqual(marks(timelineOf(r, T0)), ["▶ Promotion"]);
  });
});
