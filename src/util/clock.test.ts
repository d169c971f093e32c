import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "./clock.js";

describe("ManualClock", () => {
  it("fires timers in time order as time advances, including timers set by timers", () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push("b@20"), 20);
    clock.setTimeout(() => {
      fired.push("a@10");
      clock.setTimeout(() => fired.push("c@15"), 5);
    }, 10);
    const cancelled = clock.setTimeout(() => fired.push("never"), 12);
    cancelled.cancel();
    clock.advance(9);
    assert.deepEqual(fired, []);
    clock.advance(100);
    assert.deepEqual(fired, ["a@10", "c@15", "b@20"]);
    assert.equal(clock.now(), 109);
    assert.equal(clock.pendingTimers, 0);
  });
});
