import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DDSketch } from "@datadog/sketches-js";
import { Rng, seedOf } from "../stats/random.js";
import type { Observation, Verdict } from "../types.js";
import { createSequentialJudge, type SequentialInput } from "./sequential.js";

// absoluteMargin 0: these cases test the ratio test alone; the rare-event pass has its own case.
const CONFIG: SequentialInput = { alpha: 0.01, margin: 0.1, absoluteMargin: 0, minBakeTime: "5m" };
const STEP = 10_000;
/**
 * The base e-process alone: no restarts, no dispersion discount (so one interval can decide).
 * The mechanics below (messages, bake time, restarts of the process, latency edges) are tested
 * on it; what the defaults add for real fleets has its own cases at the end.
 */
const PLAIN: SequentialInput = { ...CONFIG, restartEvery: "0s", dispersion: "binomial" };

function obs(
  t: number,
  canary: [number, number],
  stable: [number, number] | undefined,
): Observation {
  return {
    from: t * STEP,
    to: (t + 1) * STEP,
    canary: { value: null, requests: canary[0], errors: canary[1] },
    ...(stable === undefined
      ? {}
      : { stable: { value: null, requests: stable[0], errors: stable[1] } }),
  };
}

interface SimOptions {
  intervals: number;
  requestsPerInterval: number;
  /** Canary weight per interval. */
  weight: (t: number) => number;
  baseRate: number;
  multiplier: number;
  shockCv: number;
}

/** One simulated run: the interval at which the judge failed, or -1. */
function simulate(rng: Rng, config: SequentialInput, o: SimOptions): number {
  const judge = createSequentialJudge(config, "errors");
  for (let t = 0; t < o.intervals; t++) {
    const n = rng.poisson(o.requestsPerInterval);
    const nB = rng.binomial(n, o.weight(t));
    const nA = n - nB;
    const shock = rng.shock(o.shockCv);
    const eA = rng.binomial(nA, Math.min(1, o.baseRate * shock));
    const eB = rng.binomial(nB, Math.min(1, o.baseRate * o.multiplier * shock));
    const v = judge.judge(obs(t, [nB, eB], [nA, eA]), (t + 1) * STEP);
    if (v.evidence.decision === "fail") return t;
  }
  return -1;
}

function sketchOf(values: number[]): DDSketch {
  const s = new DDSketch();
  for (const v of values) s.accept(v);
  return s;
}
/** Upper end of a one-sided binomial tolerance: mean + 2.33 sd (about 99 %). */
function tolerance(runs: number, p: number): number {
  return Math.ceil(runs * p + 2.33 * Math.sqrt(runs * p * (1 - p)));
}

describe("sequential judge: calibration and power", () => {
  it("keeps false rollbacks of an A/A canary at or under α (400 runs × 60 intervals, shared shocks)", () => {
    const config = { ...CONFIG, alpha: 0.05 };
    const rng = new Rng(seedOf("aa-calibration"));
    let failed = 0;
    for (let r = 0; r < 400; r++) {
      const t = simulate(rng, config, {
        intervals: 60,
        requestsPerInterval: 1000,
        weight: () => 0.1,
        baseRate: 0.02,
        multiplier: 1,
        shockCv: 0.3,
      });
      if (t >= 0) failed++;
    }
    assert.ok(failed <= tolerance(400, 0.05), `${failed} of 400 A/A runs rolled back at α = 0.05`);
  });

  it("stays calibrated across weight steps (5 % → 25 % → 50 %) without restarting", () => {
    const config = { ...CONFIG, alpha: 0.05 };
    const rng = new Rng(seedOf("aa-steps"));
    let failed = 0;
    for (let r = 0; r < 400; r++) {
      const t = simulate(rng, config, {
        intervals: 60,
        requestsPerInterval: 1000,
        weight: (t) => (t < 20 ? 0.05 : t < 40 ? 0.25 : 0.5),
        baseRate: 0.02,
        multiplier: 1,
        shockCv: 0.3,
      });
      if (t >= 0) failed++;
    }
    assert.ok(failed <= tolerance(400, 0.05), `${failed} of 400 A/A runs rolled back at α = 0.05`);
  });

  it("rolls back a canary with 1.1× the errors (inside the margin) rarely", () => {
    const config = { ...CONFIG, alpha: 0.05 };
    const rng = new Rng(seedOf("at-margin"));
    let failed = 0;
    for (let r = 0; r < 200; r++) {
      const opts = {
        intervals: 60,
        requestsPerInterval: 1000,
        weight: () => 0.25,
        baseRate: 0.02,
        multiplier: 1.1,
        shockCv: 0,
      };
      if (simulate(rng, config, opts) >= 0) failed++;
    }
    assert.ok(failed <= tolerance(200, 0.05), `${failed} of 200 runs at the margin rolled back`);
  });

  it("detects a ×5 regression at 100 requests/s and 5 % canary within about a minute", () => {
    const rng = new Rng(seedOf("x5"));
    const times: number[] = [];
    for (let r = 0; r < 50; r++) {
      const t = simulate(rng, CONFIG, {
        intervals: 60,
        requestsPerInterval: 1000,
        weight: () => 0.05,
        baseRate: 0.01,
        multiplier: 5,
        shockCv: 0.3,
      });
      times.push(t < 0 ? Number.POSITIVE_INFINITY : t + 1);
    }
    times.sort((a, b) => a - b);
    assert.ok((times[25] as number) <= 9, `median ${times[25]} intervals of 10 s`);
    assert.ok((times[49] as number) <= 30, `slowest ${times[49]} intervals`);
  });
});

describe("sequential judge: evidence", () => {
  it("gives the same e-value for the same counts in one interval or many (constant share)", () => {
    const one = createSequentialJudge(PLAIN, "errors");
    const many = createSequentialJudge(PLAIN, "errors");
    const a = one.judge(obs(0, [400, 30], [3600, 80]), STEP);
    let b: Verdict | undefined;
    const parts: Array<[[number, number], [number, number]]> = [
      [
        [100, 3],
        [900, 30],
      ],
      [
        [100, 20],
        [900, 10],
      ],
      [
        [200, 7],
        [1800, 40],
      ],
    ];
    parts.forEach(([c, s], t) => {
      b = many.judge(obs(t, c, s), (t + 1) * STEP);
    });
    const la = a.evidence.logEValue as number;
    const lb = b?.evidence.logEValue as number;
    assert.ok(Math.abs(la - lb) < 1e-9, `${la} vs ${lb}`);
    assert.equal(a.evidence.ratioUpper, b?.evidence.ratioUpper);
  });

  it("fails with a readable message, and a fail is final", () => {
    const judge = createSequentialJudge(PLAIN, "errors");
    const v = judge.judge(obs(0, [480, 12], [9520, 30]), STEP);
    assert.equal(v.phase, "Failed");
    assert.equal(v.evidence.decision, "fail");
    assert.match(
      v.message,
      /^canary errors 12\/480 \(2\.5 %\) vs stable 30\/9520 \(0\.32 %\): e-value \d+ ≥ 100 = 1\/α against "canary ≤ 1\.1 × stable", rollback$/,
    );
    assert.ok((v.value as number) >= 100);
    // Many clean intervals later the e-value has dropped, but the rollback stands.
    let last = v;
    for (let t = 1; t < 200; t++) last = judge.judge(obs(t, [500, 0], [9500, 100]), (t + 1) * STEP);
    assert.ok((last.evidence.logEValue as number) < Math.log(100));
    assert.equal(last.phase, "Failed");
    assert.match(last.message, /earlier .*rollback stands/);
  });

  it("continues on a Successful phase until it may pass early, and passes only after the bake time", () => {
    const judge = createSequentialJudge({ ...PLAIN, minBakeTime: "2m" }, "errors");
    // A canary clearly no worse: lots of traffic, rates equal. 10 s intervals; the bake time is 12 intervals.
    let v = judge.judge(obs(0, [50_000, 500], [50_000, 500]), STEP);
    assert.equal(v.phase, "Successful");
    assert.equal(v.evidence.decision, "continue");
    for (let t = 1; t < 11; t++)
      v = judge.judge(obs(t, [50_000, 500], [50_000, 500]), (t + 1) * STEP);
    assert.equal(v.evidence.decision, "continue");
    assert.ok((v.evidence.ratioUpper as number) < 1.1);
    assert.match(v.message, /no early pass before 2m/);
    v = judge.judge(obs(11, [50_000, 500], [50_000, 500]), 12 * STEP);
    assert.equal(v.phase, "Successful");
    assert.equal(v.evidence.decision, "pass");
    assert.match(
      v.message,
      /rate ratio ≤ 1\.\d+ \(99 % confidence sequence\) < 1\.1 = 1 \+ margin, pass$/,
    );
  });

  it("does not pass a canary whose bound is not below 1 + margin", () => {
    const judge = createSequentialJudge({ ...PLAIN, minBakeTime: "0s" }, "errors");
    let v: Verdict | undefined;
    for (let t = 0; t < 30; t++) v = judge.judge(obs(t, [100, 1], [1900, 19]), (t + 1) * STEP);
    assert.equal(v?.evidence.decision, "continue");
    assert.match(v?.message ?? "", /not yet below 1\.1/);
  });

  it("says so when an interval has no traffic, and changes nothing", () => {
    const judge = createSequentialJudge(PLAIN, "errors");
    judge.judge(obs(0, [100, 3], [1900, 20]), STEP);
    const before = judge.state();
    const none = judge.judge(obs(1, [0, 0], [0, 0]), 2 * STEP);
    assert.equal(none.phase, "Successful");
    assert.equal(none.evidence.decision, "continue");
    assert.equal(none.evidence.noTraffic, true);
    assert.match(none.message, /no requests on either arm in this interval, evidence unchanged/);
    const noCanary = judge.judge(obs(2, [0, 0], [2000, 30]), 3 * STEP);
    assert.match(noCanary.message, /no canary requests in this interval \(stable 2000\)/);
    const noStable = judge.judge(obs(3, [100, 2], [0, 0]), 4 * STEP);
    assert.match(noStable.message, /no stable requests in this interval/);
    const after = judge.state() as { L: number[]; intervals: number };
    assert.deepEqual(after.L, (before as { L: number[] }).L);
    assert.equal(after.intervals, 1);
  });

  it("is an Error, never a verdict, without a stable arm or with unusable counts", () => {
    const judge = createSequentialJudge(PLAIN, "errors");
    const noStable = judge.judge(obs(0, [100, 3], undefined), STEP);
    assert.equal(noStable.phase, "Error");
    assert.match(noStable.message, /no stable baseline/);
    const cases: Observation[] = [
      {
        from: 0,
        to: STEP,
        canary: { value: null, requests: 100 },
        stable: { value: null, requests: 100, errors: 1 },
      },
      {
        from: 0,
        to: STEP,
        canary: { value: null, errors: 1 },
        stable: { value: null, requests: 100, errors: 1 },
      },
      obs(0, [Number.NaN, 1], [100, 1]),
      obs(0, [100, Number.POSITIVE_INFINITY], [100, 1]),
      obs(0, [100, -1], [100, 1]),
      obs(0, [10, 11], [100, 1]),
    ];
    for (const c of cases) {
      const v = judge.judge(c, STEP);
      assert.equal(v.phase, "Error", v.message);
      assert.equal(v.value, null);
    }
    assert.equal((judge.state() as { intervals: number }).intervals, 0);
  });

  it("round-trips its state through JSON: a restart neither loses nor double counts", () => {
    const rng = new Rng(99);
    const data: Observation[] = [];
    for (let t = 0; t < 60; t++) {
      const n = rng.poisson(800);
      const nB = rng.binomial(n, t < 30 ? 0.1 : 0.3);
      data.push(obs(t, [nB, rng.binomial(nB, 0.015)], [n - nB, rng.binomial(n - nB, 0.01)]));
    }
    const straight = createSequentialJudge(PLAIN, "errors");
    const first = createSequentialJudge(PLAIN, "errors");
    const expected = data.map((o) => straight.judge(o, o.to));
    const got: Verdict[] = [];
    for (const o of data.slice(0, 25)) got.push(first.judge(o, o.to));
    const saved = JSON.parse(JSON.stringify(first.state()));
    const second = createSequentialJudge(PLAIN, "errors");
    second.restore(saved);
    second.restore(saved); // restoring twice must not double count
    for (const o of data.slice(25)) got.push(second.judge(o, o.to));
    assert.deepEqual(got, expected);
    assert.deepEqual(second.state(), straight.state());
  });

  it("never counts a window twice, even when handed one again after a restart", () => {
    const judge = createSequentialJudge(PLAIN, "errors");
    judge.judge(obs(0, [100, 3], [1900, 20]), STEP);
    judge.judge(obs(1, [100, 2], [1900, 20]), 2 * STEP);
    const restored = createSequentialJudge(PLAIN, "errors");
    restored.restore(JSON.parse(JSON.stringify(judge.state())));
    const again = restored.judge(obs(1, [100, 2], [1900, 20]), 2 * STEP);
    assert.equal(again.phase, "Error");
    assert.match(again.message, /overlaps data already counted/);
    assert.deepEqual(restored.state(), judge.state());
    assert.equal(restored.judge(obs(2, [100, 2], [1900, 20]), 3 * STEP).phase, "Successful");
  });

  it("refuses a state that is not its own", () => {
    const judge = createSequentialJudge(PLAIN, "errors");
    assert.throws(() => judge.restore(null), TypeError);
    assert.throws(() => judge.restore({ v: 2 }), TypeError);
    const other = createSequentialJudge({ ...PLAIN, margin: 0.2 }, "errors");
    assert.throws(() => judge.restore(other.state()), /different margin/);
    const latency = createSequentialJudge(PLAIN, "latency");
    assert.throws(() => judge.restore(latency.state()), /latency/);
  });
});

describe("sequential judge: latency (slow requests)", () => {
  it("fixes the slow edge from the first stable p99 × 1.5, then counts slow requests", () => {
    const judge = createSequentialJudge({ ...PLAIN, warmup: "0s" }, "latency");
    assert.deepEqual(judge.slowEdgesMs, []);
    const stableLatencies = Array.from({ length: 1000 }, (_, i) => 50 + (i % 100) * 3); // p99 ≈ 347
    const first = judge.judge(
      {
        from: 0,
        to: STEP,
        canary: { value: null, requests: 50 },
        stable: { value: null, requests: 1000, sketch: sketchOf(stableLatencies) },
      },
      STEP,
    );
    assert.equal(first.phase, "Successful");
    assert.equal(first.evidence.decision, "continue");
    assert.equal(first.evidence.calibrating, true);
    assert.deepEqual(judge.slowEdgesMs, [520]);
    assert.match(first.message, /^slow edge fixed at 520 ms \(stable p99 3\d\d ms × 1\.5\)/);
    const v = judge.judge(
      {
        from: STEP,
        to: 2 * STEP,
        canary: { value: null, requests: 500, slow: [40] },
        stable: { value: null, requests: 9500, slow: [20] },
      },
      2 * STEP,
    );
    assert.equal(v.phase, "Failed");
    assert.match(
      v.message,
      /^canary slow requests \(> 520 ms\) 40\/500 \(8 %\) vs stable 20\/9500/,
    );
    assert.deepEqual(judge.slowEdgesMs, [520]);
    // The edge survives a restart.
    const again = createSequentialJudge({ ...PLAIN, warmup: "0s" }, "latency");
    again.restore(JSON.parse(JSON.stringify(judge.state())));
    assert.deepEqual(again.slowEdgesMs, [520]);
  });

  it("uses slowThresholdMs at once when it is configured", () => {
    const judge = createSequentialJudge({ ...PLAIN, slowThresholdMs: 250 }, "latency");
    assert.deepEqual(judge.slowEdgesMs, [250]);
    const v = judge.judge(
      {
        from: 0,
        to: STEP,
        canary: { value: null, requests: 100, slow: [1] },
        stable: { value: null, requests: 900, slow: [9] },
      },
      STEP,
    );
    assert.equal(v.phase, "Successful");
    assert.equal(v.evidence.decision, "continue");
  });

  it("waits for stable traffic to fix the edge, and is an Error without any latency distribution", () => {
    const judge = createSequentialJudge(PLAIN, "latency");
    const empty = judge.judge(
      {
        from: 0,
        to: STEP,
        canary: { value: null, requests: 0 },
        stable: { value: null, requests: 0, sketch: new DDSketch() },
      },
      STEP,
    );
    assert.equal(empty.phase, "Successful");
    assert.equal(empty.evidence.decision, "continue");
    assert.deepEqual(judge.slowEdgesMs, []);
    const none = judge.judge(
      {
        from: STEP,
        to: 2 * STEP,
        canary: { value: null, requests: 5 },
        stable: { value: 120, requests: 50 },
      },
      2 * STEP,
    );
    assert.equal(none.phase, "Error");
    assert.match(none.message, /set judge\.sequential\.slowThresholdMs/);
    const missing = createSequentialJudge({ ...PLAIN, slowThresholdMs: 300 }, "latency").judge(
      {
        from: 0,
        to: STEP,
        canary: { value: null, requests: 5 },
        stable: { value: null, requests: 50, slow: [1] },
      },
      STEP,
    );
    assert.equal(missing.phase, "Error");
    assert.match(missing.message, /did not count canary requests slower than 300 ms/);
  });
});

describe("sequential judge with rare events", () => {
  it("passes a canary with no errors after the bake time, where a ratio could never be shown", () => {
    const judge = createSequentialJudge({ ...CONFIG, absoluteMargin: 0.002 }, "errors");
    let verdict: Verdict | undefined;
    for (let i = 0; i < 40; i++) {
      const from = i * STEP;
      const obs: Observation = {
        canary: { value: 0, requests: 200, errors: 0 },
        stable: { value: 0, requests: 800, errors: 0 },
        from,
        to: from + STEP,
      };
      verdict = judge.judge(obs, from + STEP);
      if (verdict.evidence.decision === "pass") break;
    }
    assert.equal(verdict?.evidence.decision, "pass");
    assert.ok((verdict?.evidence.bakedMs as number) >= 300_000, "not before the bake time");
    assert.match(
      verdict?.message ?? "",
      /canary share ≤ 0\.\d+ % .* within stable ≥ 0 % × 1\.1 \+ 0\.2 %, pass/,
    );
  });

  it("does not pass that way when the canary's own share is too high", () => {
    const judge = createSequentialJudge({ ...CONFIG, absoluteMargin: 0.002 }, "errors");
    for (let i = 0; i < 60; i++) {
      const from = i * STEP;
      const v = judge.judge(
        {
          canary: { value: 0.01, requests: 200, errors: 2 },
          stable: { value: 0.01, requests: 800, errors: 8 },
          from,
          to: from + STEP,
        },
        from + STEP,
      );
      assert.notEqual(v.message.includes("within stable"), true, v.message);
    }
  });
});

describe("sequential judge on counts-mode events", () => {
  const events = (t: number, canary: [number, number], stable: [number, number]): Observation => ({
    from: t * STEP,
    to: (t + 1) * STEP,
    canary: { value: null, requests: canary[0], events: canary[1] },
    stable: { value: null, requests: stable[0], events: stable[1] },
  });

  it("tests the numerator over the denominator and names the events by the label", () => {
    const judge = createSequentialJudge(CONFIG, "events", { label: "checkout-failures" });
    let v: Verdict | undefined;
    for (let t = 0; t < 30 && v?.phase !== "Failed"; t++)
      v = judge.judge(events(t, [500, 25], [500, 5]), (t + 1) * STEP);
    assert.equal(v?.phase, "Failed");
    assert.match(v?.message ?? "", /^canary checkout-failures \d+\/\d+ .* vs stable/);
  });

  it("is an Error naming the missing numerator", () => {
    const judge = createSequentialJudge(CONFIG, "events", { label: "orders" });
    const v = judge.judge(
      {
        from: 0,
        to: STEP,
        canary: { value: null, requests: 10, errors: 1 },
        stable: { value: null, requests: 10, events: 1 },
      },
      STEP,
    );
    assert.equal(v.phase, "Error");
    assert.match(v.message, /did not count canary orders/);
  });

  it("with direction decrease fails a canary that converts less, and never one that converts more", () => {
    const down = { ...CONFIG, direction: "decrease" as const };
    const fewer = createSequentialJudge(down, "events", { label: "orders" });
    const more = createSequentialJudge(down, "events", { label: "orders" });
    let vFewer: Verdict | undefined;
    let vMore: Verdict | undefined;
    for (let t = 0; t < 60; t++) {
      // Stable converts 10 % of sessions; one canary 5 %, the other 20 %.
      vFewer = fewer.judge(events(t, [200, 10], [800, 80]), (t + 1) * STEP);
      vMore = more.judge(events(t, [200, 40], [800, 80]), (t + 1) * STEP);
      assert.notEqual(vMore.phase, "Failed", vMore.message);
    }
    assert.equal(vFewer?.phase, "Failed");
    assert.equal(vMore?.evidence.decision, "pass", vMore?.message);
    assert.match(vMore?.message ?? "", /rate ratio ≥ [\d.]+ .* > 0\.9 = 1 − margin, pass/);
  });

  it("keeps its false-rollback guarantee for a decrease (A/A)", () => {
    const rng = new Rng(seedOf("decrease A/A"));
    let failed = 0;
    const runs = 300;
    for (let r = 0; r < runs; r++) {
      const judge = createSequentialJudge(
        { ...CONFIG, margin: 0, direction: "decrease" },
        "events",
      );
      for (let t = 0; t < 60; t++) {
        const nB = rng.poisson(100);
        const nA = rng.poisson(400);
        const v = judge.judge(
          events(t, [nB, rng.binomial(nB, 0.1)], [nA, rng.binomial(nA, 0.1)]),
          (t + 1) * STEP,
        );
        if (v.phase === "Failed") {
          failed++;
          break;
        }
      }
    }
    // α = 1 %: 300 runs would show ≤ 9 failures with probability > 99.9 %.
    assert.ok(failed <= 9, `${failed}/${runs} A/A runs rolled back`);
  });
});

describe("sequential judge on real fleets (the defaults)", () => {
  /** One run where each arm's rate drifts on its own every interval (Gamma, mean 1, CV `cv`). */
  function noisyRun(rng: Rng, config: SequentialInput, cv: number, multiplier = 1): number {
    const judge = createSequentialJudge(config, "errors");
    for (let t = 0; t < 120; t++) {
      const nA = rng.poisson(5000);
      const nB = rng.poisson(5000);
      const eA = rng.binomial(nA, Math.min(1, 0.01 * rng.shock(cv)));
      const eB = rng.binomial(nB, Math.min(1, 0.01 * multiplier * rng.shock(cv)));
      if (judge.judge(obs(t, [nB, eB], [nA, eA]), (t + 1) * STEP).phase === "Failed") return t;
    }
    return -1;
  }

  it("keeps a healthy canary on a noisy fleet (arm drift CV 0.3, 1,000 requests/s) under α", () => {
    const rng = new Rng(seedOf("noisy fleet"));
    let failed = 0;
    for (let r = 0; r < 150; r++) if (noisyRun(rng, CONFIG, 0.3) >= 0) failed++;
    // The binomial e-process alone rolls most of these back (see the next case).
    assert.ok(failed <= tolerance(150, 0.01), `${failed} of 150 A/A runs rolled back`);
  });

  it("(the binomial e-process alone does not: the discount is what keeps the promise)", () => {
    const rng = new Rng(seedOf("noisy fleet"));
    let failed = 0;
    for (let r = 0; r < 50; r++) if (noisyRun(rng, PLAIN, 0.3) >= 0) failed++;
    assert.ok(failed >= 10, `only ${failed} of 50 rolled back without the discount`);
  });

  it("still rolls back a canary with twice the errors on that fleet, and says why", () => {
    const rng = new Rng(seedOf("noisy fleet x2"));
    const judge = createSequentialJudge(CONFIG, "errors");
    let v: Verdict | undefined;
    for (let t = 0; t < 60 && v?.phase !== "Failed"; t++) {
      const nA = rng.poisson(5000);
      const nB = rng.poisson(5000);
      const eA = rng.binomial(nA, 0.01 * rng.shock(0.3));
      const eB = rng.binomial(nB, 0.02 * rng.shock(0.3));
      v = judge.judge(obs(t, [nB, eB], [nA, eA]), (t + 1) * STEP);
    }
    assert.equal(v?.phase, "Failed");
    assert.ok((v?.evidence.dispersion as number) > 1.5, "the interval was discounted");
    assert.match(v?.message ?? "", /discounted for fleet noise φ [\d.]+/);
  });

  it("needs at least three intervals to roll back, however bad one interval is", () => {
    const judge = createSequentialJudge(CONFIG, "errors");
    const phases = Array.from(
      { length: 10 },
      (_, t) => judge.judge(obs(t, [1000, 300], [9000, 30]), (t + 1) * STEP).phase,
    );
    assert.deepEqual(phases.slice(0, 2), ["Successful", "Successful"]);
    assert.ok(phases.includes("Failed"), phases.join());
    // The binomial e-process alone decides on the first such interval.
    const plain = createSequentialJudge(PLAIN, "errors");
    assert.equal(plain.judge(obs(0, [1000, 300], [9000, 30]), STEP).phase, "Failed");
  });

  it("does not count a cold canary's first minute, and still fails one that stays slow", () => {
    const slowObs = (t: number, canarySlow: number): Observation => ({
      from: t * STEP,
      to: (t + 1) * STEP,
      canary: { value: null, requests: 1000, slow: [canarySlow] },
      stable: { value: null, requests: 1000, slow: [10] },
    });
    const cfg = { ...CONFIG, slowThresholdMs: 300 };
    const coldThenFine = createSequentialJudge(cfg, "latency");
    const coldThenSlow = createSequentialJudge(cfg, "latency");
    for (let t = 0; t < 6; t++) {
      const v = coldThenFine.judge(slowObs(t, 400), (t + 1) * STEP);
      assert.equal(v.phase, "Successful", v.message);
      assert.equal(v.evidence.warmingUp, true);
      assert.match(v.message, /^warming up: the first 1m is shown, not counted/);
      coldThenSlow.judge(slowObs(t, 400), (t + 1) * STEP);
    }
    let fine: Verdict | undefined;
    let slow: Verdict | undefined;
    for (let t = 6; t < 60; t++) {
      fine = coldThenFine.judge(slowObs(t, 10), (t + 1) * STEP);
      assert.notEqual(fine.phase, "Failed", fine.message);
      if (slow?.phase !== "Failed") slow = coldThenSlow.judge(slowObs(t, 40), (t + 1) * STEP);
    }
    assert.equal(slow?.phase, "Failed");
    // Errors are counted from the first interval: no warm-up unless asked.
    const errors = createSequentialJudge(CONFIG, "errors");
    assert.equal(errors.judge(obs(0, [100, 1], [100, 1]), STEP).evidence.warmingUp, undefined);
  });

  it("catches a regression that starts late sooner with restarts than without", () => {
    const detect = (config: SequentialInput): number[] => {
      const rng = new Rng(seedOf("late onset"));
      const times: number[] = [];
      for (let r = 0; r < 40; r++) {
        const judge = createSequentialJudge(config, "errors");
        let at = Number.POSITIVE_INFINITY;
        for (let t = 0; t < 360; t++) {
          const nA = rng.poisson(950);
          const nB = rng.poisson(50);
          const eA = rng.binomial(nA, 0.01);
          const eB = rng.binomial(nB, t >= 120 ? 0.03 : 0.01);
          if (judge.judge(obs(t, [nB, eB], [nA, eA]), (t + 1) * STEP).phase === "Failed") {
            at = t - 120;
            break;
          }
        }
        times.push(at);
      }
      return times.sort((a, b) => a - b);
    };
    const withRestarts = detect(CONFIG)[20] as number;
    const without = detect({ ...CONFIG, restartEvery: "0s" })[20] as number;
    assert.ok(withRestarts < 0.8 * without, `median ${withRestarts} vs ${without} intervals`);
  });

  it("tests the seeds' 'errors up by more than 2 points' as a margin (maxIncrease)", () => {
    const run = (canaryRate: number): Verdict | undefined => {
      const rng = new Rng(seedOf(`max increase ${canaryRate}`));
      const judge = createSequentialJudge({ maxIncrease: 0.02 }, "errors");
      let v: Verdict | undefined;
      for (let t = 0; t < 180 && v?.phase !== "Failed"; t++) {
        const eA = rng.binomial(500, 0.01);
        const eB = rng.binomial(500, canaryRate);
        v = judge.judge(obs(t, [500, eB], [500, eA]), (t + 1) * STEP);
      }
      return v;
    };
    // +1 point (1 % → 2 %, a doubling): within the rule, never rolled back.
    assert.notEqual(run(0.02)?.phase, "Failed");
    // +4 points: rolled back, and the message says against what.
    const bad = run(0.05);
    assert.equal(bad?.phase, "Failed");
    assert.match(bad?.message ?? "", /against "canary ≤ stable \+ 2 %"/);
  });

  it("tests the seeds' 'latency +50 %' as a margin on the p99 (maxRatio)", () => {
    const judge = createSequentialJudge({ maxRatio: 1.5, warmup: "0s" }, "latency");
    const stableLatencies = Array.from({ length: 1000 }, (_, i) => 50 + (i % 100) * 3);
    judge.judge(
      {
        from: 0,
        to: STEP,
        canary: { value: null, requests: 50 },
        stable: { value: null, requests: 1000, sketch: sketchOf(stableLatencies) },
      },
      STEP,
    );
    // The stable p99 (≈ 347 ms) is the stable edge; the canary is counted beyond 1.5 × it.
    assert.deepEqual(judge.slowEdgesMs, [350, 530]);
    let v: Verdict | undefined;
    for (let t = 1; t < 30 && v?.phase !== "Failed"; t++) {
      v = judge.judge(
        {
          from: t * STEP,
          to: (t + 1) * STEP,
          canary: { value: null, requests: 1000, slow: [200, 60] },
          stable: { value: null, requests: 1000, slow: [10, 1] },
        },
        (t + 1) * STEP,
      );
    }
    assert.equal(v?.phase, "Failed");
    assert.match(
      v?.message ?? "",
      /canary requests beyond 530 ms \(stable beyond its p99 350 ms\)/,
    );
  });

  it("continues a run saved before restarts and the discount existed (state version 1)", () => {
    const judge = createSequentialJudge(CONFIG, "errors");
    judge.judge(obs(0, [100, 1], [900, 9]), STEP);
    const saved = judge.state() as Record<string, unknown>;
    const mixture = saved.mixture as { components: Array<{ L: number[] }> };
    const v1 = { ...saved, v: 1, L: mixture.components[0]?.L };
    delete (v1 as Record<string, unknown>).mixture;
    delete (v1 as Record<string, unknown>).dispersion;
    const resumed = createSequentialJudge(CONFIG, "errors");
    resumed.restore(JSON.parse(JSON.stringify(v1)));
    const v = resumed.judge(obs(1, [100, 1], [900, 9]), 2 * STEP);
    assert.equal(v.phase, "Successful");
    assert.equal((v.evidence.cumulative as { canary: { requests: number } }).canary.requests, 200);
  });
});
