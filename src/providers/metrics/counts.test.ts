import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProviderError } from "../../analysis/types.js";
import { countsArm } from "./counts.js";

const Q = { events: "sum(e)", requests: "sum(r)" };

describe("counts mode's arm", () => {
  it("gives requests, events and their rate", () => {
    assert.deepEqual(countsArm("prometheus", "canary", 5, 200, Q), {
      arm: { value: 0.025, requests: 200, events: 5 },
    });
  });

  it("counts no series as none (a counter never seen with that label has not happened)", () => {
    assert.deepEqual(countsArm("prometheus", "stable", null, 100, Q).arm, {
      value: 0,
      requests: 100,
      events: 0,
    });
    assert.deepEqual(countsArm("prometheus", "stable", null, null, Q).arm, {
      value: null,
      requests: 0,
      events: 0,
    });
  });

  it("clamps the hair of extrapolation that puts events above requests", () => {
    assert.equal(countsArm("prometheus", "canary", 101.3, 100, Q).arm.events, 100);
  });

  it("says when it clamped events to requests, and only then", () => {
    assert.equal(
      countsArm("prometheus", "canary", 101.3, 100, Q).adjusted,
      "canary: events 101.3 clamped to requests 100",
    );
    assert.equal(countsArm("prometheus", "canary", 100, 100, Q).adjusted, undefined);
  });

  it("refuses negative counts and events far above requests, naming the arm and the query", () => {
    assert.throws(
      () => countsArm("web", "stable", -1, 100, { events: "$.orders", requests: "$.sessions" }),
      (e) =>
        e instanceof ProviderError &&
        /web: counts\.events for the stable is negative/.test(e.message),
    );
    assert.throws(
      () => countsArm("prometheus", "canary", 300, 100, { events: "sum(x)", requests: "sum(y)" }),
      (e) =>
        e instanceof ProviderError &&
        /canary's events \(300\) exceed its requests \(100\).*events: sum\(x\); requests: sum\(y\)\)$/.test(
          e.message,
        ),
    );
  });

  it("names the query text of the count that is negative", () => {
    assert.throws(
      () => countsArm("prometheus", "stable", 1, -2, Q),
      (e) =>
        e instanceof ProviderError &&
        e.code === "bad-counts" &&
        /prometheus: counts\.requests for the stable is negative \(-2\).*\(requests: sum\(r\)\)/.test(
          e.message,
        ),
    );
    assert.throws(
      () => countsArm("web", "canary", -1, 10, Q),
      (e) => e instanceof ProviderError && /\(events: sum\(e\)\)/.test(e.message),
    );
  });

  it("refuses NaN and ±Inf, which are not counts, naming provider, count, version and query", () => {
    const cases = [
      [Number.NaN, 100, "events", "canary", "NaN", "sum\\(e\\)"],
      [5, Number.POSITIVE_INFINITY, "requests", "canary", "\\+Inf", "sum\\(r\\)"],
      [Number.NEGATIVE_INFINITY, 100, "events", "stable", "-Inf", "sum\\(e\\)"],
      [5, Number.NaN, "requests", "stable", "NaN", "sum\\(r\\)"],
    ] as const;
    for (const [events, requests, what, name, shown, query] of cases) {
      assert.throws(
        () => countsArm("prometheus", name, events, requests, Q),
        (e) =>
          e instanceof ProviderError &&
          e.code === "bad-counts" &&
          new RegExp(
            `^prometheus: counts\\.${what} for the ${name} is ${shown}, not a count.*\\(${what}: ${query}\\)$`,
          ).test(e.message),
        `${what} ${name} ${shown}`,
      );
    }
  });
});
