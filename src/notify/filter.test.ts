import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { announcedAs, namesOf, wants } from "./filter.js";
import { ANALYSIS_ABORT, OPERATOR_ABORT, STARTED, sampleEvent } from "./test-events.js";

describe("notification filters", () => {
  it("announces an analysis abort as analysis.failed, other events under their type", () => {
    assert.equal(announcedAs(ANALYSIS_ABORT), "analysis.failed");
    assert.equal(announcedAs(OPERATOR_ABORT), "aborted");
    assert.equal(announcedAs(STARTED), "rollout.started");
  });

  it("counts an analysis abort as both aborted and analysis.failed", () => {
    assert.deepEqual(namesOf(ANALYSIS_ABORT), ["aborted", "analysis.failed"]);
    assert.ok(wants({ events: ["analysis.failed"] }, ANALYSIS_ABORT));
    assert.ok(!wants({ events: ["analysis.failed"] }, OPERATOR_ABORT));
    assert.ok(wants({ events: ["aborted"] }, ANALYSIS_ABORT));
    assert.ok(wants({ events: ["aborted"] }, OPERATOR_ABORT));
  });

  it("counts a retried rollout as started", () => {
    const retried = sampleEvent({ type: "rollout.retried" });
    assert.ok(wants({ events: ["rollout.started"] }, retried));
    assert.ok(!wants({ events: ["promoted"] }, retried));
  });

  it("takes everything without filters, and filters on services and events together", () => {
    const routeSet = sampleEvent({ type: "route.set" });
    assert.ok(wants({}, routeSet));
    assert.ok(!wants({ events: ["weight.set"] }, routeSet));
    const weight = sampleEvent();
    assert.ok(wants({ services: ["shop"], events: ["weight.set"] }, weight));
    assert.ok(!wants({ services: ["cart"], events: ["weight.set"] }, weight));
    assert.ok(!wants({ services: ["cart"] }, weight));
  });
});
