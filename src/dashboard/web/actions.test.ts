import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { actionsFor, doneText, requestOf } from "./actions.js";
import { gate, rollout, T0, view } from "./fixtures.js";

const kinds = (
  v: Parameters<typeof actionsFor>[0],
  role: Parameters<typeof actionsFor>[1] = "operator",
) => actionsFor(v, role).map((a) => a.kind);

describe("actions an operator is offered", () => {
  it("offers nothing to a read-only or anonymous caller", () => {
    const v = view(rollout());
    assert.deepEqual(kinds(v, "read-only"), []);
    assert.deepEqual(kinds(v, "anonymous"), []);
  });

  it("a moving rollout: promote, promote fully, pause, abort", () => {
    assert.deepEqual(kinds(view(rollout())), ["promote", "promote-full", "pause", "abort"]);
  });

  it("an operator pause: resume instead of pause", () => {
    const v = view(rollout({ phase: "Paused", pausedAt: T0 }));
    assert.deepEqual(kinds(v), ["promote", "promote-full", "resume", "abort"]);
  });

  it("a manual pause step or the promotion gate: promote is the way on, not resume", () => {
    assert.deepEqual(kinds(view(rollout({ phase: "Paused", stepIndex: 3, pausedAt: T0 }))), [
      "promote",
      "promote-full",
      "abort",
    ]);
    const base = rollout();
    const atGate = rollout({
      stepIndex: 5,
      phase: "Paused",
      pausedAt: T0,
      traffic: { ...base.traffic, weight: 100 },
      strategy: { ...(base.strategy as object), autoPromote: false },
    });
    assert.deepEqual(kinds(view(atGate)), ["promote", "promote-full", "abort"]);
  });

  it("held at gates: one open-gate per gate, and no plain promote", () => {
    const r = rollout({
      phase: "Waiting",
      strategyGates: [gate("change-board", "confirm-rollout"), gate("sre", "confirm-rollout")],
    });
    r.gates = {
      passed: [],
      waiting: { point: "start", gates: ["change-board", "sre"], since: T0 },
    };
    const actions = actionsFor(view(r), "operator");
    assert.deepEqual(
      actions.map((a) => a.label),
      ["Open gate change-board", "Open gate sre", "Promote fully", "Pause", "Abort"],
    );
    assert.deepEqual(requestOf(actions[1]!), { kind: "gate", gate: "sre" });
    assert.match(actions[2]!.confirm.body, /every remaining step and gate/);
  });

  it("an aborted rollout: retry; a promoted one with a previous stable: undo", () => {
    assert.deepEqual(kinds(view(rollout({ phase: "Aborted" }))), ["retry"]);
    const promoted = view(rollout({ phase: "Healthy", stepIndex: 5 }), {
      previousStable: { version: "v1", targets: ["http://a"] },
      traffic: {
        stable: { version: "v2", targets: ["http://b"] },
        canary: null,
        weight: 0,
        headerRoutes: [],
        mirror: null,
      },
    });
    const actions = actionsFor(promoted, "operator");
    assert.deepEqual(
      actions.map((a) => [a.kind, a.label, a.confirm.title]),
      [["undo", "Undo: back to v1", "Put v1 back?"]],
    );
    assert.match(actions[0]!.confirm.body, /from v2 to v1/);
    assert.deepEqual(kinds(view(null)), []);
  });

  it("says in the dialog what promote will do from here", () => {
    const promote = actionsFor(view(rollout({ stepIndex: 1, phase: "Paused" })), "operator")[0]!;
    assert.equal(promote.confirm.title, "Finish step 2?");
    assert.equal(
      promote.confirm.body,
      "Ends step 2 (Pause 30s) now and goes on to step 3 (Set weight to 40%).",
    );
    const last = actionsFor(view(rollout({ stepIndex: 5, phase: "Promoting" })), "operator")[0]!;
    assert.equal(last.confirm.title, "Promote v2?");
  });

  it("abort is destructive, asks for an optional reason, and sends it only when given", () => {
    const abort = actionsFor(view(rollout()), "operator").find((a) => a.kind === "abort")!;
    assert.equal(abort.confirm.danger, true);
    assert.equal(abort.confirm.reason, true);
    assert.equal(abort.confirm.button, "Abort rollout");
    assert.deepEqual(requestOf(abort, "  5xx on checkout "), {
      kind: "command",
      verb: "abort",
      body: { reason: "5xx on checkout" },
    });
    assert.deepEqual(requestOf(abort, "   "), { kind: "command", verb: "abort", body: {} });
    assert.equal(doneText(abort, "shop"), "shop: rollout aborted");
  });

  it("maps promote and promote fully to the same verb with `full`", () => {
    const [promote, full] = actionsFor(view(rollout()), "operator");
    assert.deepEqual(requestOf(promote!), {
      kind: "command",
      verb: "promote",
      body: { full: false },
    });
    assert.deepEqual(requestOf(full!), { kind: "command", verb: "promote", body: { full: true } });
  });
});
