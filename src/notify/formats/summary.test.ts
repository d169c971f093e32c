import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ANALYSIS_ABORT, PROMOTED, STARTED, sampleEvent } from "../test-events.js";
import { fit, summarize } from "./summary.js";

describe("event summaries", () => {
  it("titles, facts and outcome of a weight change", () => {
    const s = summarize(sampleEvent(), { deliveryId: "d" });
    assert.equal(s.title, "shop: canary weight 25%");
    assert.equal(s.outcome, "neutral");
    assert.deepEqual(s.facts, [
      { label: "Service", value: "shop" },
      { label: "Weight", value: "25%" },
      { label: "Phase", value: "Progressing" },
      { label: "Step", value: "3" },
      { label: "Actor", value: "controller" },
    ]);
    assert.equal(s.at, "2026-01-01T12:30:00.000Z");
  });

  it("shows versions from the context, or from what the event records (never weights)", () => {
    const ctx = { deliveryId: "d", versions: { stable: "v1", canary: "v2" } };
    assert.equal(summarize(sampleEvent(), ctx).facts[1]?.value, "v1 → v2");
    const fact = (e: typeof STARTED) =>
      summarize(e, { deliveryId: "d" }).facts.find((f) => f.label === "Versions")?.value;
    assert.equal(fact(STARTED), "v1 → v2");
    assert.equal(fact(PROMOTED), "v1 → v2");
    assert.equal(fact(sampleEvent()), undefined, "weight.set's from/to are weights");
  });

  it("calls an analysis abort a failure, a promotion a success", () => {
    const abort = summarize(ANALYSIS_ABORT, { deliveryId: "d" });
    assert.equal(abort.title, "shop: analysis failed, rollout aborted");
    assert.equal(abort.event, "analysis.failed");
    assert.equal(abort.outcome, "failure");
    assert.equal(summarize(PROMOTED, { deliveryId: "d" }).outcome, "success");
  });

  it("names the gates an event records", () => {
    const title = (type: string, data: Record<string, unknown>) =>
      summarize(sampleEvent({ type, data }), { deliveryId: "d" }).title;
    assert.equal(title("gate.waiting", { gates: ["qa"] }), "shop: waiting at gate qa");
    assert.equal(
      title("gate.waiting", { gates: ["qa", "load"] }),
      "shop: waiting at gates qa, load",
    );
    assert.equal(title("gate.waiting", {}), "shop: waiting at a gate");
    assert.equal(title("gate.opened", { gate: "qa" }), "shop: gate qa opened");
    assert.equal(title("gate.opened", { gate: 7 }), "shop: gate opened");
  });

  it("fits text to a limit without splitting escapes or surrogate pairs", () => {
    assert.equal(fit("short", 10), "short");
    assert.equal(fit("abcdefghij", 5), "abcd…");
    const amp = (s: string) => s.replace(/&/g, "&amp;");
    const cut = fit("a&b&c&d", 8, amp);
    assert.ok(cut.length <= 8, cut);
    assert.match(cut, /^(?:[a-d]|&amp;)*…$/, "no half escape");
    const emoji = fit("ab😀cd", 4);
    assert.equal(emoji, "ab…", "the pair is dropped whole, not halved");
  });
});
