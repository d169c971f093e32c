import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ANALYSIS_ABORT, sampleEvent } from "../test-events.js";
import { jsonBody } from "./json.js";

describe("json format", () => {
  it("carries the event as recorded, with the delivery id and the announced name", () => {
    assert.deepEqual(jsonBody(sampleEvent(), { deliveryId: "dlv-1" }), {
      id: "dlv-1",
      event: "weight.set",
      type: "weight.set",
      seq: 42,
      service: "shop",
      rolloutId: "0mj3k2x1a-4f2a9c0d1e2b",
      at: "2026-01-01T12:30:00.000Z",
      actor: "controller",
      reason: "canary weight 5% → 25%",
      phase: "Progressing",
      stepIndex: 2,
      weight: 25,
      data: { from: 5, to: 25 },
    });
  });

  it("announces an analysis abort as analysis.failed and keeps the recorded type", () => {
    const body = jsonBody(ANALYSIS_ABORT, { deliveryId: "d" });
    assert.equal(body.event, "analysis.failed");
    assert.equal(body.type, "aborted");
    assert.equal(body.actor, "analysis");
    assert.equal(body.reason, ANALYSIS_ABORT.reason, "JSON needs no escaping beyond JSON's own");
  });
});
