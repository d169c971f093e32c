import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { arm, metrics, rollout, T0, view } from "./fixtures.js";
import {
  attentionOf,
  healthOf,
  healthText,
  isPhaseFilter,
  matchesFilter,
  overviewOrder,
  phaseBadge,
  stepText,
} from "./phase.js";

describe("phase badges", () => {
  it("gives every phase words and an icon, not just a colour", () => {
    const seen = new Set<string>();
    for (const phase of [
      "Progressing",
      "Paused",
      "Waiting",
      "Analyzing",
      "Promoting",
      "Healthy",
      "Aborted",
    ] as const) {
      const b = phaseBadge(view(rollout({ phase, pausedAt: phase === "Paused" ? T0 : null })));
      assert.ok(b.label.length > 0 && b.icon.length > 0, phase);
      seen.add(`${b.tone}/${b.icon}`);
    }
    assert.equal(seen.size, 7, "each phase looks different");
  });

  it("tells a timed pause (goes on by itself) from a pause that waits for a person", () => {
    assert.equal(phaseBadge(view(rollout({ phase: "Paused" }))).label, "Timed pause");
    assert.equal(phaseBadge(view(rollout({ phase: "Paused", pausedAt: T0 }))).label, "Paused");
  });

  it("names a service without a rollout by how its traffic runs", () => {
    assert.equal(phaseBadge(view(null)).label, "Stable");
    const split = view(null, {
      traffic: {
        stable: { version: "v1", targets: ["http://a"] },
        canary: { version: "v2", targets: ["http://b"] },
        weight: 10,
        headerRoutes: [],
        mirror: null,
      },
    });
    assert.deepEqual(
      [phaseBadge(split).label, phaseBadge(split).title],
      ["Static split", "no rollout: 10% goes to v2 by the spec's weight"],
    );
  });
});

describe("health at a glance", () => {
  it("compares the canary's error rate with stable's; no requests is no data, not healthy", () => {
    assert.deepEqual(healthOf(undefined), { kind: "unknown" });
    assert.deepEqual(healthOf(metrics([arm("stable", "v1", { errorRate: 0.001 })])), {
      kind: "no-canary",
      stable: 0.001,
    });
    const idle = healthOf(
      metrics([arm("stable", "v1"), arm("canary", "v2", { requests: 0, errorRate: null })]),
    );
    assert.equal(idle.kind, "no-data");
    assert.equal(healthText(idle), "no canary requests yet; stable 0% errors");
    const quiet = metrics([
      arm("stable", "v1", { requests: 0, errorRate: null }),
      arm("canary", "v2", { requests: 0, errorRate: null }),
    ]);
    assert.equal(healthText(healthOf(quiet)), "no canary requests yet; no stable requests");
    assert.equal(
      healthText(healthOf(metrics([arm("stable", "v1", { requests: 0, errorRate: null })]))),
      "no requests in the last minute",
    );
    const worse = healthOf(
      metrics([
        arm("stable", "v1", { errorRate: 0.001 }),
        arm("canary", "v2", { errorRate: 0.042 }),
      ]),
    );
    assert.equal(worse.kind, "worse");
    assert.equal(healthText(worse), "canary 4.2% vs stable 0.1% errors");
  });

  it("does not call a canary worse for a difference that is small in absolute or relative terms", () => {
    const h = (canary: number, stable: number | null) =>
      healthOf(
        metrics([
          arm("stable", "v1", { errorRate: stable }),
          arm("canary", "v2", { errorRate: canary }),
        ]),
      ).kind;
    assert.equal(h(0.005, 0), "ok", "half a point above a perfect stable");
    assert.equal(h(0.3, 0.2), "ok", "ten points above, but not double");
    assert.equal(h(0.02, null), "worse", "no stable traffic to compare: 2% is still worse than 0");
  });
});

describe("attention, filters and order", () => {
  const services = {
    aborted: view(rollout({ phase: "Aborted", reason: "aborted by operator:alice: 5xx" }), {
      name: "cart",
    }),
    waiting: (() => {
      const r = rollout({ phase: "Waiting" });
      r.gates = { passed: [], waiting: { point: "start", gates: ["change-board"], since: T0 } };
      return view(r, { name: "search" });
    })(),
    held: view(rollout({ phase: "Paused", pausedAt: T0, reason: "paused by operator:bob" }), {
      name: "pay",
    }),
    timed: view(rollout({ phase: "Paused", stepIndex: 1 }), { name: "ads" }),
    moving: view(rollout(), { name: "shop" }),
    idle: view(null, { name: "docs" }),
  };
  const none = healthOf(undefined);

  it("marks aborts, gates and pauses that wait for a person; not a timed pause", () => {
    assert.deepEqual(attentionOf(services.aborted, none), {
      kind: "aborted",
      text: "aborted by operator:alice: 5xx",
    });
    assert.deepEqual(attentionOf(services.waiting, none), {
      kind: "waiting",
      text: "waiting at gate change-board",
    });
    assert.equal(attentionOf(services.held, none)?.kind, "paused");
    assert.equal(attentionOf(services.timed, none), null);
    assert.equal(attentionOf(services.moving, none), null);
    const bad = healthOf(
      metrics([arm("stable", "v1", { errorRate: 0 }), arm("canary", "v2", { errorRate: 0.2 })]),
    );
    assert.deepEqual(attentionOf(services.moving, bad), {
      kind: "failing",
      text: "errors above stable: canary 20% vs stable 0% errors",
    });
  });

  it("filters by phase and by words in the name or versions", () => {
    const pick = (filter: Parameters<typeof matchesFilter>[2], text = "") =>
      Object.values(services)
        .filter((v) => matchesFilter(v, none, filter, text))
        .map((v) => v.name)
        .sort();
    assert.deepEqual(pick("all"), ["ads", "cart", "docs", "pay", "search", "shop"]);
    assert.deepEqual(pick("active"), ["ads", "pay", "search", "shop"]);
    assert.deepEqual(pick("paused"), ["pay"]);
    assert.deepEqual(pick("waiting"), ["search"]);
    assert.deepEqual(pick("failing"), ["cart"]);
    assert.deepEqual(pick("all", "SH"), ["shop"]);
    assert.deepEqual(pick("all", "v2 ca"), ["cart"]);
    assert.deepEqual(pick("active", "   "), ["ads", "pay", "search", "shop"]);
    assert.ok(isPhaseFilter("waiting") && !isPhaseFilter("everything"));
  });

  it("puts what needs a person first, then what moves, then the rest", () => {
    const order = Object.values(services)
      .map((v) => ({ view: v, attention: attentionOf(v, none) }))
      .sort(overviewOrder)
      .map((x) => x.view.name);
    assert.deepEqual(order, ["cart", "search", "pay", "ads", "shop", "docs"]);
  });

  it("says where in its steps a rollout is", () => {
    assert.equal(stepText(services.moving), "step 1 of 5");
    assert.equal(stepText(view(rollout({ stepIndex: 5, phase: "Promoting" }))), "promotion");
    assert.equal(stepText(view(rollout({ phase: "Healthy", stepIndex: 5 }))), "promoted");
    assert.equal(stepText(services.idle), "");
  });
});
