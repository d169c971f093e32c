import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../util/clock.js";
import { applyBatch, checkBatch } from "./batch.js";
import { CHECKOUT_SET } from "./fixtures.js";
import { FlagWindows } from "./windows.js";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function rig(windowMs = 60_000, maxEventNames = 3) {
  const clock = new ManualClock(T0);
  const windows = new FlagWindows({ clock, windowMs, maxEventNames });
  const set = CHECKOUT_SET;
  const at = (sec: number) => clock.advance(T0 + sec * 1000 - clock.now());
  const q = (variant: string, from = T0, to = clock.now() + 1) =>
    windows.query({ service: "flag:new-checkout", version: variant, from, to });
  return { clock, windows, set, at, q };
}

describe("flag windows", () => {
  it("answers exposures as requests, error events as errors, latency events as the sketch", () => {
    const r = rig();
    r.at(0.5);
    r.windows.exposures("new-checkout", "on", 100);
    r.windows.errors("new-checkout", "on", 7);
    r.windows.latencies("new-checkout", "on", [10, 20, 30, 40]);
    r.windows.exposures("new-checkout", "off", 50);
    r.at(1.5);
    r.windows.exposures("new-checkout", "on", 100);
    r.windows.errors("new-checkout", "on", 3);
    const on = r.q("on");
    assert.equal(on.requests, 200);
    assert.equal(on.errors, 10);
    assert.equal(on.errorRate, 0.05);
    assert.equal(on.sketch.count, 4);
    assert.ok(Math.abs(on.latencyMs.mean - 25) < 1e-9);
    assert.ok(on.latencyMs.p50 >= 19 && on.latencyMs.p50 <= 21, String(on.latencyMs.p50));
    const off = r.q("off");
    assert.equal(off.requests, 50);
    assert.equal(off.errors, 0);
    assert.ok(Number.isNaN(off.latencyMs.p50));
    // one second only: [T0+1s, T0+2s)
    assert.equal(r.q("on", T0 + 1000, T0 + 2000).requests, 100);
  });

  it("forgets seconds older than the window, as the router's windows do", () => {
    const r = rig(10_000);
    r.at(0.5);
    r.windows.exposures("new-checkout", "on", 5);
    r.windows.event("new-checkout", "on", "checkout-completed", 2);
    r.at(5);
    assert.equal(r.q("on").requests, 5);
    r.at(30);
    const w = r.q("on");
    assert.equal(w.requests, 0);
    assert.ok(w.from > T0, "from is raised to what is held");
    const c = r.windows.eventCounts(
      "flag:new-checkout",
      "on",
      "checkout-completed",
      T0,
      r.clock.now(),
    );
    assert.deepEqual([c.exposures, c.events], [0, 0]);
  });

  it("never reports more errors than exposures", () => {
    const r = rig();
    r.windows.exposures("new-checkout", "on", 2);
    r.windows.errors("new-checkout", "on", 9);
    assert.equal(r.q("on").errorRate, 1);
  });

  it("keeps at most maxEventNames business event names per flag", () => {
    const r = rig(60_000, 2);
    assert.equal(r.windows.event("new-checkout", "on", "a", 1), true);
    assert.equal(r.windows.event("new-checkout", "off", "b", 1), true);
    assert.equal(r.windows.event("new-checkout", "on", "c", 1), false);
    assert.equal(r.windows.event("new-checkout", "on", "a", 4), true);
    assert.deepEqual(r.windows.eventNames("new-checkout"), ["a", "b"]);
    const c = r.windows.eventCounts("flag:new-checkout", "on", "a", T0, T0 + 1000);
    assert.deepEqual([c.events, c.exposures], [5, 0]);
  });

  it("frees a name's place once none of its events is left in the window", () => {
    const r = rig(10_000, 2);
    r.at(0.5);
    r.windows.exposures("new-checkout", "on", 10);
    assert.ok(r.windows.event("new-checkout", "on", "a", 7));
    assert.ok(r.windows.event("new-checkout", "on", "b", 1));
    assert.equal(r.windows.event("new-checkout", "on", "c", 1), false);
    r.at(5);
    assert.ok(r.windows.event("new-checkout", "on", "b", 1));
    r.at(13);
    // a was last seen at second 0, now out of the 10 s window; b at second 5 is still held.
    assert.ok(r.windows.event("new-checkout", "on", "c", 2));
    assert.deepEqual(r.windows.eventNames("new-checkout").sort(), ["b", "c"]);
    const c = r.windows.eventCounts("flag:new-checkout", "on", "c", T0, r.clock.now() + 1);
    assert.equal(c.events, 2, "a's old counts never show up under c");
    assert.equal(r.windows.event("new-checkout", "on", "d", 1), false);
  });

  it("drops flags and variants no longer served", () => {
    const r = rig();
    r.windows.exposures("new-checkout", "on", 1);
    r.windows.exposures("gone", "x", 1);
    r.windows.retain(r.set.flags);
    assert.equal(r.q("on").requests, 1);
    assert.equal(
      r.windows.query({ service: "flag:gone", version: "x", from: T0, to: T0 + 1000 }).requests,
      0,
    );
  });

  it("refuses a query that is not a flag subject or not a window", () => {
    const r = rig();
    assert.throws(
      () => r.windows.query({ service: "shop", version: "v1", from: T0, to: T0 + 1 }),
      /flag:<key>/,
    );
    assert.throws(() => r.q("on", T0, T0), /from < to/);
  });
});

describe("tracking batches", () => {
  const counts = (r: ReturnType<typeof rig>) => {
    const on = r.q("on");
    const off = r.q("off");
    return [on.requests, on.errors, on.sketch.count, off.requests];
  };

  it("counts a good batch and names each refused item", () => {
    const r = rig();
    const c = checkBatch(
      {
        exposures: [
          { flag: "new-checkout", variant: "on", count: 10 },
          { flag: "nope", variant: "on", count: 10 },
          { flag: "new-checkout", variant: "maybe", count: 1 },
        ],
        events: [
          { name: "error", flag: "new-checkout", variant: "on", count: 2 },
          { name: "latency", flag: "new-checkout", variant: "on", values: [5, 6, 7] },
          { name: "checkout-completed", flag: "new-checkout", variant: "off" },
        ],
      },
      r.set,
      r.windows,
    );
    assert.ok(c.ok);
    assert.equal(c.items.length, 4);
    assert.deepEqual(
      c.refused.map((x) => x.at),
      ["exposures[1]", "exposures[2]"],
    );
    assert.match(c.refused[0]!.reason, /no flag nope/);
    assert.match(c.refused[1]!.reason, /no variant maybe/);
    applyBatch(c.items, r.windows);
    assert.deepEqual(counts(r), [10, 2, 3, 0]);
    const e = r.windows.eventCounts(
      "flag:new-checkout",
      "off",
      "checkout-completed",
      T0,
      T0 + 1000,
    );
    assert.equal(e.events, 1);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ["not an object", [1, 2], /^body$/],
    ["empty", {}, /^body$/],
    ["unknown top field", { exposures: [], junk: 1 }, /^body\.junk$/],
    [
      "a count of 0",
      { exposures: [{ flag: "new-checkout", variant: "on", count: 0 }] },
      /^exposures\[0\]\.count$/,
    ],
    [
      "a huge count",
      { exposures: [{ flag: "new-checkout", variant: "on", count: 1e12 }] },
      /^exposures\[0\]\.count$/,
    ],
    [
      "a fractional count",
      { exposures: [{ flag: "new-checkout", variant: "on", count: 1.5 }] },
      /count$/,
    ],
    [
      "a bad name",
      { events: [{ name: "has space", flag: "new-checkout", variant: "on" }] },
      /^events\[0\]\.name$/,
    ],
    [
      "latency without values",
      { events: [{ name: "latency", flag: "new-checkout", variant: "on", count: 3 }] },
      /values$/,
    ],
    [
      "a negative latency",
      { events: [{ name: "latency", flag: "new-checkout", variant: "on", values: [1, -1] }] },
      /values\[1\]$/,
    ],
    [
      "values on a business event",
      { events: [{ name: "buy", flag: "new-checkout", variant: "on", values: [1] }] },
      /values$/,
    ],
    [
      "too many items",
      {
        exposures: Array.from({ length: 1001 }, () => ({
          flag: "new-checkout",
          variant: "on",
          count: 1,
        })),
      },
      /^body$/,
    ],
  ];
  for (const [what, body, place] of bad) {
    it(`refuses ${what} whole, naming the place, and counts nothing`, () => {
      const r = rig();
      // A good item first: it must not count when a later one is bad.
      const withGood =
        typeof body === "object" && body !== null && !Array.isArray(body) && "exposures" in body
          ? body
          : { ...(body as object), exposures: [{ flag: "new-checkout", variant: "on", count: 5 }] };
      const c = checkBatch(
        Array.isArray(body) || Object.keys(body as object).length === 0 ? body : withGood,
        r.set,
        r.windows,
      );
      assert.equal(c.ok, false);
      if (!c.ok) assert.match(c.at, place);
      assert.deepEqual(counts(r), [0, 0, 0, 0]);
    });
  }

  it("refuses business event names past the flag's limit, counting those already kept", () => {
    const r = rig(60_000, 3);
    const first = checkBatch(
      { events: [{ name: "a", flag: "new-checkout", variant: "on" }] },
      r.set,
      r.windows,
    );
    assert.ok(first.ok);
    applyBatch(first.items, r.windows);
    const names = ["a", "b", "c", "d", "e", "b"];
    const c = checkBatch(
      { events: names.map((name) => ({ name, flag: "new-checkout", variant: "on", count: 1 })) },
      r.set,
      r.windows,
    );
    assert.ok(c.ok);
    assert.deepEqual(
      c.refused.map((x) => x.name),
      ["d", "e"],
    );
    // error and latency are reserved and never use up a name.
    const d = checkBatch(
      { events: [{ name: "error", flag: "new-checkout", variant: "on" }] },
      r.set,
      r.windows,
    );
    assert.ok(d.ok && d.refused.length === 0);
  });
});
