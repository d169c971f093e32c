import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ServerClock } from "./server-clock.js";

const SERVER = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A sample from a server whose clock is `offset` ms ahead, answering `rtt` ms after `local`. */
function sample(local: number, offset: number, rtt = 4) {
  const handledAt = local + rtt / 2 + offset;
  return {
    sentAt: local,
    receivedAt: local + rtt,
    date: new Date(Math.floor(handledAt / 1000) * 1000).toUTCString(),
  };
}

describe("server clock", () => {
  it("knows nothing at first: the local clock", () => {
    assert.equal(new ServerClock().now(1234), 1234);
  });

  it("one Date header puts the offset within a second plus the round trip", () => {
    const c = new ServerClock();
    const local = SERVER - 90_000 + 300; // the local clock is 90 s behind
    c.observe(sample(local, 90_000));
    assert.ok(Math.abs(c.offset - 90_000) <= 502, `offset ${c.offset}`);
    assert.ok(c.uncertainty <= 502);
  });

  it("polls that drift across the second boundary narrow it to tens of ms", () => {
    const c = new ServerClock();
    let local = SERVER + 17;
    for (let i = 0; i < 40; i++) {
      c.observe(sample(local, -42_000));
      local += 1_047; // a 1 s poll plus the time a read takes
    }
    assert.ok(Math.abs(c.offset + 42_000) <= 30, `offset ${c.offset}`);
    assert.ok(c.uncertainty <= 30, `uncertainty ${c.uncertainty}`);
  });

  it("a server timestamp of something past is a floor", () => {
    const c = new ServerClock();
    c.observe({ sentAt: 1_000, receivedAt: 1_010, before: [SERVER] });
    assert.equal(c.offset, SERVER - 1_010);
  });

  it("starts over when the evidence contradicts what it had (a clock was stepped)", () => {
    const c = new ServerClock();
    c.observe(sample(SERVER, 0));
    c.observe(sample(SERVER + 1_000, 0));
    c.observe(sample(SERVER + 2_000, 3_600_000));
    assert.ok(Math.abs(c.offset - 3_600_000) <= 502, `offset ${c.offset}`);
  });

  it("ignores a missing or unparsable Date header", () => {
    const c = new ServerClock();
    c.observe({ sentAt: 0, receivedAt: 5, date: "not a date" });
    c.observe({ sentAt: 0, receivedAt: 5 });
    assert.equal(c.offset, 0);
  });
});

const at = (ms: number) => new Date(ms).toUTCString();

describe("server clock, as the dashboard uses it", () => {
  it("is the local clock until something is known", () => {
    assert.equal(new ServerClock().now(1_000), 1_000);
  });

  it("narrows the offset from Date headers to within the round trip and the header's second", () => {
    const c = new ServerClock();
    const server = 1_700_000_000_400; // the server is 30.4 s ahead of the browser
    const local = server - 30_400;
    // Answer made at server time `server`: the header says ...000 (truncated).
    c.observe({ sentAt: local - 10, receivedAt: local + 10, date: at(server) });
    assert.ok(Math.abs(c.offset - 30_400) <= 520, `offset ${c.offset}`);
    // An answer made just before the server's clock ticks over bounds it from above...
    c.observe({ sentAt: local + 580, receivedAt: local + 600, date: at(server + 590) });
    // ...and one made just after, from below.
    c.observe({ sentAt: local + 590, receivedAt: local + 610, date: at(server + 600) });
    assert.ok(Math.abs(c.offset - 30_400) <= 30, `offset ${c.offset}`);
  });

  it("takes server timestamps of past events as a lower bound", () => {
    const c = new ServerClock();
    c.observe({ sentAt: 0, receivedAt: 100, before: [5_000] });
    assert.ok(c.now(100) >= 5_000);
  });

  it("starts again when new evidence contradicts what it knew (a clock was stepped)", () => {
    const c = new ServerClock();
    c.observe({ sentAt: 0, receivedAt: 20, date: at(60_000) });
    assert.ok(Math.abs(c.offset - 60_490) < 20);
    c.observe({ sentAt: 1_000, receivedAt: 1_020, date: at(1_000) });
    assert.ok(Math.abs(c.offset - 490) < 20, `offset ${c.offset}`);
  });

  it("ignores a Date header it cannot read", () => {
    const c = new ServerClock();
    c.observe({ sentAt: 0, receivedAt: 10, date: "yesterday-ish" });
    assert.equal(c.offset, 0);
  });
});
