import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { openSqliteStore } from "../store/sqlite/sqlite-store.js";
import { ManualClock } from "../util/clock.js";
import { CHECKOUT_SET } from "./fixtures.js";
import { TrackingWindowsSchema } from "./report.js";
import { startTrackingShare } from "./shared.js";
import { FlagWindows } from "./windows.js";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const WINDOW_MS = 60_000;

const SET = CHECKOUT_SET;
const served = (f: string, v: string) => f === "new-checkout" && (v === "on" || v === "off");

/** Two instances' windows on one clock; `b` received what `a` exported. */
function pair() {
  const clock = new ManualClock(T0 + 500);
  const a = new FlagWindows({ clock, windowMs: WINDOW_MS, maxEventNames: 4 });
  const b = new FlagWindows({ clock, windowMs: WINDOW_MS, maxEventNames: 4 });
  const q = (w: FlagWindows, variant = "on") =>
    w.query({ service: "flag:new-checkout", version: variant, from: T0, to: clock.now() + 1000 });
  const conversions = (w: FlagWindows) =>
    w.eventCounts("flag:new-checkout", "on", "checkout-completed", T0, clock.now() + 1000).events;
  const now = () => Math.floor(clock.now() / 1000);
  const send = () => b.merge("a", a.export(now() - 10, now()), served);
  return { clock, a, b, q, conversions, send };
}

describe("flag windows from other instances", () => {
  it("a merged report answers queries exactly as the windows that counted it", () => {
    const p = pair();
    p.a.exposures("new-checkout", "on", 100);
    p.a.errors("new-checkout", "on", 6);
    p.a.latencies("new-checkout", "on", [5, 50, 500, 5000]);
    p.a.event("new-checkout", "on", "checkout-completed", 9);
    p.clock.advance(1000);
    p.a.exposures("new-checkout", "on", 20);
    p.a.exposures("new-checkout", "off", 70);
    assert.deepEqual(p.send(), []);
    const mine = p.q(p.a);
    const theirs = p.q(p.b);
    assert.equal(theirs.requests, 120);
    assert.equal(theirs.errors, 6);
    assert.deepEqual(theirs.sketch, mine.sketch);
    assert.deepEqual(theirs.latencyMs, mine.latencyMs);
    assert.equal(p.q(p.b, "off").requests, 70);
    assert.equal(p.conversions(p.b), 9);
    // Its own counts add to what it was sent.
    p.b.exposures("new-checkout", "on", 30);
    p.b.event("new-checkout", "on", "checkout-completed", 1);
    assert.equal(p.q(p.b).requests, 150);
    assert.equal(p.conversions(p.b), 10);
  });

  it("a second reported again replaces what was known of it: nothing counts twice", () => {
    const p = pair();
    p.a.exposures("new-checkout", "on", 10);
    p.send();
    p.send();
    assert.equal(p.q(p.b).requests, 10);
    p.a.exposures("new-checkout", "on", 5); // the same second, later
    p.send();
    assert.equal(p.q(p.b).requests, 15);
    // A report that no longer reaches back that far leaves the older seconds as they were.
    p.clock.advance(30_000);
    p.send();
    assert.equal(p.q(p.b).requests, 15);
    assert.deepEqual(p.b.remoteInstances(), ["a"]);
    p.b.forget("a");
    assert.equal(p.q(p.b).requests, 0);
  });

  it("takes only served flags and variants, seconds in reach and in the report's range", () => {
    const p = pair();
    const now = Math.floor(p.clock.now() / 1000);
    const refused = p.b.merge(
      "a",
      {
        v: 1,
        from: now - 100,
        to: now,
        series: [
          { flag: "gone", variant: "x", seconds: [{ s: now, x: 5, e: 0 }] },
          { flag: "new-checkout", variant: "maybe", seconds: [{ s: now, x: 5, e: 0 }] },
          {
            flag: "new-checkout",
            variant: "on",
            seconds: [
              { s: now - 100, x: 1000, e: 0 }, // older than the 60 s window
              { s: now + 5, x: 1000, e: 0 }, // outside [from, to]
              { s: now - 1, x: 3, e: 0, l: [now - 1, 1] }, // a latency row too short
              { s: now - 2, x: 4, e: 1, n: { a: 1, b: 1, c: 1, d: 1, e: 1 } }, // 5 names > 4
              { s: now, x: 7, e: 1 },
            ],
          },
        ],
      },
      served,
    );
    assert.deepEqual(
      refused.map((r) => `${r.flag}/${r.variant}: ${r.reason}`),
      [
        "gone/x: not a served flag and variant",
        "new-checkout/maybe: not a served flag and variant",
        `new-checkout/on: second ${now - 1}: latency too short`,
        `new-checkout/on: second ${now - 2}: more than 4 event names`,
      ],
    );
    assert.equal(p.q(p.b).requests, 7);
  });

  it("forgets reported seconds as they leave the window, and flags no longer served", () => {
    const p = pair();
    p.a.exposures("new-checkout", "on", 10);
    p.send();
    p.clock.advance(WINDOW_MS + 2_000);
    p.b.exposures("new-checkout", "off", 1); // any use prunes
    assert.equal(p.q(p.b).requests, 0);
    assert.deepEqual(p.b.remoteInstances(), []);
    p.clock.advance(1000);
    p.a.exposures("new-checkout", "on", 10);
    p.send();
    p.b.retain(new Map());
    assert.equal(p.q(p.b).requests, 0);
  });
});

describe("tracking reports on the wire", () => {
  const ok = { v: 1, from: 10, to: 19, series: [] };
  it("accepts an export and refuses garbage", () => {
    const p = pair();
    p.a.exposures("new-checkout", "on", 1);
    p.a.latencies("new-checkout", "on", [12]);
    p.a.event("new-checkout", "on", "checkout-completed", 1);
    const now = Math.floor(p.clock.now() / 1000);
    const exported = p.a.export(now - 10, now);
    assert.equal(exported.series.length, 1);
    assert.deepEqual(TrackingWindowsSchema.parse(exported), exported);
    assert.ok(TrackingWindowsSchema.safeParse(ok).success);
    for (const bad of [
      null,
      "garbage",
      { ...ok, v: 2 },
      { ...ok, from: 20, to: 10 },
      { ...ok, from: 0, to: 1000 },
      { ...ok, extra: true },
      { ...ok, series: [{ flag: "f", variant: "v", seconds: [{ s: 10, x: -1, e: 0 }] }] },
      { ...ok, series: [{ flag: "f", variant: "v", seconds: [{ s: 10, x: 1.5, e: 0 }] }] },
      { ...ok, series: [{ flag: "", variant: "v", seconds: [] }] },
    ])
      assert.equal(TrackingWindowsSchema.safeParse(bad).success, false, JSON.stringify(bad));
  });
});

describe("sharing tracked counts through the store", () => {
  it("each instance reports its seconds and takes the others', never its own", async () => {
    const store = openSqliteStore(":memory:");
    try {
      const clock = new ManualClock(T0 + 500);
      const windows = {
        a: new FlagWindows({ clock, windowMs: WINDOW_MS }),
        b: new FlagWindows({ clock, windowMs: WINDOW_MS }),
      };
      const warnings: { instance?: string; msg?: string }[] = [];
      const log = pino(
        { level: "warn" },
        { write: (line: string) => warnings.push(JSON.parse(line)) },
      );
      const share = (who: "a" | "b") =>
        startTrackingShare({
          store,
          windows: windows[who],
          instance: who,
          flags: () => SET,
          windowMs: WINDOW_MS,
          clock,
          log,
          everyMs: 3_600_000,
        });
      const a = share("a");
      const b = share("b");
      const onA = () =>
        windows.a.query({ service: "flag:new-checkout", version: "on", from: T0, to: T0 + 5000 });
      const onB = () =>
        windows.b.query({ service: "flag:new-checkout", version: "on", from: T0, to: T0 + 5000 });

      await a.round();
      assert.deepEqual(await store.trackingReports(), [], "nothing counted: nothing written");
      windows.a.exposures("new-checkout", "on", 40);
      windows.b.exposures("new-checkout", "on", 2);
      await a.round();
      await b.round();
      await a.round();
      await b.round();
      assert.equal(onA().requests, 42);
      assert.equal(onB().requests, 42);
      assert.deepEqual(windows.a.remoteInstances(), ["b"]);

      // Garbage in the store: said once, however many rounds find it, and the rest still used.
      assert.equal(warnings.length, 0);
      await store.putTrackingReport({ instance: "c", at: clock.now(), windows: { v: 9 } });
      await b.round();
      await b.round();
      assert.equal(onB().requests, 42);
      assert.deepEqual(
        warnings.map((w) => [w.instance, w.msg]),
        [["c", "part of another instance's tracking report was not used"]],
      );

      // Reports older than the window are deleted, and what they held forgotten.
      clock.advance(WINDOW_MS + 61_000);
      await b.round();
      assert.deepEqual(
        (await store.trackingReports()).map((r) => r.instance),
        ["b"],
        "b wrote an empty report (it had counted lately); a's and c's were too old",
      );
      assert.deepEqual(windows.b.remoteInstances(), []);
      await a.close();
      await b.close();
    } finally {
      await store.close();
    }
  });
});

describe("sharing while the store is away", () => {
  it("says so once per outage, and shares again once it is back", async () => {
    const store = openSqliteStore(":memory:");
    try {
      const clock = new ManualClock(T0 + 500);
      const windows = new FlagWindows({ clock, windowMs: WINDOW_MS });
      let down = false;
      const flaky = {
        putTrackingReport: (r: Parameters<typeof store.putTrackingReport>[0]) =>
          down ? Promise.reject(new Error("connect ECONNREFUSED")) : store.putTrackingReport(r),
        trackingReports: () => store.trackingReports(),
        deleteTrackingReportsBefore: (at: number) => store.deleteTrackingReportsBefore(at),
      };
      const lines: { level: number; msg: string }[] = [];
      const share = startTrackingShare({
        store: flaky,
        windows,
        instance: "a",
        flags: () => SET,
        windowMs: WINDOW_MS,
        clock,
        log: pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l)) }),
        everyMs: 3_600_000,
      });
      windows.exposures("new-checkout", "on", 5);
      down = true;
      await share.round();
      await share.round();
      await share.round();
      down = false;
      await share.round();
      assert.deepEqual(
        lines.map((l) => l.msg),
        [
          "cannot share tracked counts through the store",
          "tracked counts are shared through the store again",
        ],
      );
      assert.equal((await store.trackingReports())[0]?.instance, "a", "what it counted got out");
      await share.close();
    } finally {
      await store.close();
    }
  });
});
