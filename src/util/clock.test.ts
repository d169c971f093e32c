import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  chainedTimeout,
  MAX_TIMER_DELAY_MS,
  ManualClock,
  systemClock,
  type TimerHandle,
} from "./clock.js";

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

describe("chainedTimeout", () => {
  /** Timers on a ManualClock, with a tiny single-timer limit standing in for Node's 2^31-1 ms. */
  function primitives(clock: ManualClock, maxDelayMs: number) {
    const armed: number[] = [];
    return {
      armed,
      timers: {
        set: (fn: () => void, ms: number) => {
          assert.ok(ms <= maxDelayMs, `one timer armed for ${ms} ms, over ${maxDelayMs}`);
          armed.push(ms);
          return clock.setTimeout(fn, ms);
        },
        clear: (t: TimerHandle) => t.cancel(),
        maxDelayMs,
      },
    };
  }

  it("waits out a delay longer than one timer reaches as a chain, firing once at the end", () => {
    const clock = new ManualClock(0);
    const { armed, timers } = primitives(clock, 100);
    let fired = 0;
    chainedTimeout(() => fired++, 250, timers);
    clock.advance(249);
    assert.equal(fired, 0);
    clock.advance(1);
    assert.equal(fired, 1);
    assert.deepEqual(armed, [100, 100, 50]);
    clock.advance(1_000);
    assert.equal(fired, 1);
  });

  it("cancels whichever link of the chain is pending", () => {
    const clock = new ManualClock(0);
    const { timers } = primitives(clock, 100);
    let fired = 0;
    const handle = chainedTimeout(() => fired++, 250, timers);
    clock.advance(150);
    handle.cancel();
    clock.advance(1_000);
    assert.equal(fired, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  it("arms one timer for a delay within reach, and fires at once for 0 or a negative delay", () => {
    const clock = new ManualClock(0);
    const { armed, timers } = primitives(clock, 100);
    const fired: string[] = [];
    chainedTimeout(() => fired.push("100"), 100, timers);
    chainedTimeout(() => fired.push("-5"), -5, timers);
    clock.advance(0);
    assert.deepEqual(fired, ["-5"]);
    clock.advance(100);
    assert.deepEqual(fired, ["-5", "100"]);
    assert.deepEqual(armed, [100, 0]);
  });

  it("never arms a Node timer beyond 2^31-1 ms through systemClock", () => {
    assert.equal(MAX_TIMER_DELAY_MS, 2 ** 31 - 1);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    const handle = systemClock.setTimeout(() => assert.fail("fired"), 30 * 86_400_000);
    handle.cancel();
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        process.off("warning", onWarning);
        assert.deepEqual(warnings, []);
        resolve();
      }),
    );
  });
});
