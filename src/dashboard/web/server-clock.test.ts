import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ServerClock } from "./server-clock.js";

const at = (ms: number) => new Date(ms).toUTCString();

describe("server clock", () => {
  it("is the local clock until something is known", () => {
    assert.equal(new ServerClock().now(1_000), 1_000);
  });

  it("narrows the offset from Date headers to within the round trip and the header's second", () => {
    const c = new ServerClock();
    const server = 1_700_000_000_400; // the server is 30.4 s ahead of the browser
    const local = server - 30_400;
    // Answer made at server time `server`: the header says ...000 (truncated).
    c.observe({ sentAt: local - 10, receivedAt: local + 10, date: at(server) });
    assert.ok(Math.abs(c.offsetMs - 30_400) <= 520, `offset ${c.offsetMs}`);
    // An answer made just before the server's clock ticks over bounds it from above...
    c.observe({ sentAt: local + 580, receivedAt: local + 600, date: at(server + 590) });
    // ...and one made just after, from below.
    c.observe({ sentAt: local + 590, receivedAt: local + 610, date: at(server + 600) });
    assert.ok(Math.abs(c.offsetMs - 30_400) <= 30, `offset ${c.offsetMs}`);
  });

  it("takes server timestamps of past events as a lower bound", () => {
    const c = new ServerClock();
    c.observe({ sentAt: 0, receivedAt: 100, before: [5_000] });
    assert.ok(c.now(100) >= 5_000);
  });

  it("starts again when new evidence contradicts what it knew (a clock was stepped)", () => {
    const c = new ServerClock();
    c.observe({ sentAt: 0, receivedAt: 20, date: at(60_000) });
    assert.ok(Math.abs(c.offsetMs - 60_490) < 20);
    c.observe({ sentAt: 1_000, receivedAt: 1_020, date: at(1_000) });
    assert.ok(Math.abs(c.offsetMs - 490) < 20, `offset ${c.offsetMs}`);
  });

  it("ignores a Date header it cannot read", () => {
    const c = new ServerClock();
    c.observe({ sentAt: 0, receivedAt: 10, date: "yesterday-ish" });
    assert.equal(c.offsetMs, 0);
  });
});
