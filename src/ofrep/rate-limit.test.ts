/** The OFREP listener's token buckets, driven by the manual clock. */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../util/clock.js";
import { addressBucket, retryAfterSeconds, TokenBuckets } from "./rate-limit.js";

describe("TokenBuckets", () => {
  it("lets a burst through, then one request per 1/rate seconds", () => {
    const clock = new ManualClock();
    const b = new TokenBuckets({ rate: 10, burst: 3, maxBuckets: 10 }, clock);
    assert.deepEqual([b.take("k"), b.take("k"), b.take("k")], [0, 0, 0]);
    assert.equal(b.take("k"), 100, "the next token is 100 ms away");
    clock.advance(50);
    assert.equal(b.take("k"), 50);
    clock.advance(50);
    assert.equal(b.take("k"), 0);
    assert.equal(b.take("k"), 100);
  });

  it("refills to the burst and no further", () => {
    const clock = new ManualClock();
    const b = new TokenBuckets({ rate: 100, burst: 2, maxBuckets: 10 }, clock);
    b.take("k");
    b.take("k");
    clock.advance(3_600_000);
    assert.deepEqual([b.take("k"), b.take("k")], [0, 0]);
    assert.ok(b.take("k") > 0);
  });

  it("keeps buckets apart", () => {
    const clock = new ManualClock();
    const b = new TokenBuckets({ rate: 1, burst: 1, maxBuckets: 10 }, clock);
    assert.equal(b.take("a"), 0);
    assert.equal(b.take("b"), 0);
    assert.equal(b.take("a"), 1_000);
  });

  it("holds at most maxBuckets, dropping the least recently used", () => {
    const clock = new ManualClock();
    const b = new TokenBuckets({ rate: 1, burst: 1, maxBuckets: 3 }, clock);
    b.take("a");
    b.take("b");
    b.take("c");
    assert.ok(b.take("a") > 0, "a is empty, and now the most recently used");
    for (let i = 0; i < 10_000; i++) b.take(`flood-${i}`);
    assert.equal(b.size, 3);
    assert.equal(b.evicted, 10_000);
    // a was dropped by the flood: it comes back full.
    assert.equal(b.take("a"), 0);
  });

  it("keeps a recently used bucket while strangers come and go", () => {
    const clock = new ManualClock();
    const b = new TokenBuckets({ rate: 1, burst: 1, maxBuckets: 3 }, clock);
    b.take("busy");
    b.take("x");
    b.take("busy");
    b.take("y");
    b.take("busy");
    b.take("z");
    assert.ok(b.take("busy") > 0, "busy was never dropped, so it is still empty");
  });

  it("adds nothing when the clock steps back", () => {
    let now = 1_000_000;
    const clock = { now: () => now, setTimeout: new ManualClock().setTimeout };
    const b = new TokenBuckets({ rate: 1, burst: 1, maxBuckets: 3 }, clock);
    b.take("k");
    now -= 10_000;
    assert.ok(b.take("k") > 0);
    now += 1_000;
    assert.equal(b.take("k"), 0, "refill runs on from the stepped-back time");
  });

  it("refuses settings that would never admit anything", () => {
    const clock = new ManualClock();
    assert.throws(() => new TokenBuckets({ rate: 0, burst: 1, maxBuckets: 1 }, clock), /rate > 0/);
    assert.throws(() => new TokenBuckets({ rate: 1, burst: 0, maxBuckets: 1 }, clock), /burst/);
  });
});

describe("retryAfterSeconds", () => {
  it("rounds up to whole seconds, at least 1", () => {
    assert.equal(retryAfterSeconds(1), 1);
    assert.equal(retryAfterSeconds(1_000), 1);
    assert.equal(retryAfterSeconds(1_001), 2);
  });
});

describe("addressBucket", () => {
  it("charges IPv4 by address and IPv6 by its /64", () => {
    assert.equal(addressBucket("203.0.113.7"), "203.0.113.7");
    assert.equal(addressBucket("::ffff:203.0.113.7"), "203.0.113.7");
    assert.equal(addressBucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert.equal(addressBucket("2001:0db8:0001:0002:ffff:1:2:3"), "2001:db8:1:2::/64");
    assert.equal(addressBucket("2001:db8::1"), "2001:db8:0:0::/64");
    assert.equal(addressBucket("::1"), "0:0:0:0::/64");
    assert.equal(addressBucket("fe80::1%eth0"), "fe80:0:0:0::/64");
    assert.equal(addressBucket(undefined), "unknown");
  });
});
