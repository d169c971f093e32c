import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../util/clock.js";
import { RestartBackoff } from "./restart-backoff.js";

describe("RestartBackoff", () => {
  it("restarts a worker that lived at once, and one in a crash loop ever later, up to the ceiling", () => {
    const clock = new ManualClock();
    const backoff = new RestartBackoff({
      clock,
      baseMs: 500,
      maxMs: 4_000,
      healthyAfterMs: 10_000,
    });
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const started = clock.now();
      clock.advance(100);
      const wait = backoff.delayAfterExit(1, started);
      waits.push(wait);
      clock.advance(wait);
    }
    assert.deepEqual(waits, [0, 500, 1_000, 2_000, 4_000, 4_000]);
  });

  it("starts the count over once a worker stayed up, and counts each worker apart", () => {
    const clock = new ManualClock();
    const backoff = new RestartBackoff({ clock, baseMs: 500, healthyAfterMs: 10_000 });
    const t0 = clock.now();
    clock.advance(100);
    assert.equal(backoff.delayAfterExit(1, t0), 0);
    assert.equal(backoff.delayAfterExit(1, t0), 500);
    assert.equal(backoff.delayAfterExit(2, t0), 0, "worker 2 has its own count");
    const t1 = clock.now();
    clock.advance(10_000);
    assert.equal(backoff.delayAfterExit(1, t1), 0, "it had been up 10 s");
    assert.equal(backoff.delayAfterExit(1, clock.now()), 0);
    assert.equal(backoff.delayAfterExit(1, clock.now()), 500);
  });
});
