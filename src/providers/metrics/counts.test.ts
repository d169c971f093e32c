import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProviderError } from "../../analysis/types.js";
import { countsArm } from "./counts.js";

describe("counts mode's arm", () => {
  it("gives requests, events and their rate", () => {
    assert.deepEqual(countsArm("prometheus", "canary", 5, 200, "q"), {
      value: 0.025,
      requests: 200,
      events: 5,
    });
  });

  it("counts no series as none (a counter never seen with that label has not happened)", () => {
    assert.deepEqual(countsArm("prometheus", "stable", null, 100, "q"), {
      value: 0,
      requests: 100,
      events: 0,
    });
    assert.deepEqual(countsArm("prometheus", "stable", null, null, "q"), {
      value: null,
      requests: 0,
      events: 0,
    });
  });

  it("clamps the hair of extrapolation that puts events above requests", () => {
    assert.equal(countsArm("prometheus", "canary", 101.3, 100, "q").events, 100);
  });

  it("refuses negative counts and events far above requests, naming the arm and the query", () => {
    assert.throws(
      () => countsArm("web", "stable", -1, 100, "$.orders"),
      (e) =>
        e instanceof ProviderError &&
        /web: counts\.events for the stable is negative/.test(e.message),
    );
    assert.throws(
      () => countsArm("prometheus", "canary", 300, 100, "sum(x)"),
      (e) =>
        e instanceof ProviderError &&
        /canary's events \(300\) exceed its requests \(100\).*events: sum\(x\)/.test(e.message),
    );
  });
});
