import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { logOneSidedBetaMixtureBF } from "./beta-mixture.js";
import { Rng } from "./random.js";
import { normalise, RateRatioEProcess, type RateRatioGrid, standardGrid } from "./rate-ratio.js";

const theta = (rho: number, delta: number) =>
  (rho * Math.exp(delta)) / (rho * Math.exp(delta) + 1 - rho);

/**
 * A grid whose prior on δ is the Beta(a, b) prior on θ = θ(δ) at share w, truncated to θ > θ₀:
 * density Beta(θ) · dθ/dδ, on the midpoints of a fine grid above δ₀. Its e-value is then the
 * closed-form BF⁺ of research §2.2 up to the midpoint rule's error.
 */
function betaMatchingGrid(delta0: number, w: number, a: number, b: number): RateRatioGrid {
  const h = 0.0002;
  const n = Math.round((9 - delta0) / h);
  const deltas = new Float64Array(n);
  const fail = new Float64Array(n);
  for (let g = 0; g < n; g++) {
    const d = delta0 + (g + 0.5) * h;
    const t = theta(w, d);
    deltas[g] = d;
    fail[g] = (a - 1) * Math.log(t) + (b - 1) * Math.log(1 - t) + Math.log(t * (1 - t));
  }
  const normalised = normalise(fail);
  return {
    delta0,
    direction: "increase",
    deltas,
    failLogPrior: normalised,
    twoSidedLogPrior: normalised,
  };
}

describe("RateRatioEProcess", () => {
  it("equals the closed-form one-sided Beta-mixture BF at a constant share (oracle)", () => {
    for (const [w, delta0] of [
      [0.05, 0],
      [0.25, Math.log(1.1)],
      [0.5, Math.log(1.5)],
    ] as const) {
      const k = 100;
      const a = k * w;
      const b = k * (1 - w);
      const p = new RateRatioEProcess(betaMatchingGrid(delta0, w, a, b));
      const batches = [
        [40, 5],
        [0, 0],
        [33, 9],
        [120, 31],
      ];
      let eA = 0;
      let eB = 0;
      for (const [x, y] of batches) {
        p.update(x as number, y as number, w);
        eA += x as number;
        eB += y as number;
        const expected = logOneSidedBetaMixtureBF(eB, eA, theta(w, delta0), a, b);
        assert.ok(Math.abs(p.logE() - expected) < 1e-4, `w=${w}: ${p.logE()} vs ${expected}`);
      }
    }
  });

  it("gives the same e-value for the same counts in one batch or many (constant share)", () => {
    const grid = standardGrid({ delta0: Math.log(1.1) });
    const one = new RateRatioEProcess(grid);
    const many = new RateRatioEProcess(grid);
    one.update(300, 42, 0.1);
    const parts = [
      [10, 1],
      [0, 7],
      [90, 12],
      [200, 22],
    ];
    for (const [eA, eB] of parts) many.update(eA as number, eB as number, 0.1);
    assert.ok(Math.abs(one.logE() - many.logE()) < 1e-9, `${one.logE()} vs ${many.logE()}`);
    assert.deepEqual(one.confidenceSequence(0.01), many.confidenceSequence(0.01));
  });

  it("uses each interval's own share (weight steps)", () => {
    const delta0 = Math.log(1.1);
    const d = 0.7;
    const deltas = Float64Array.of(d);
    const grid: RateRatioGrid = {
      delta0,
      direction: "increase",
      deltas,
      failLogPrior: Float64Array.of(0),
      twoSidedLogPrior: Float64Array.of(0),
    };
    const p = new RateRatioEProcess(grid);
    const intervals = [
      [50, 4, 0.05],
      [40, 20, 0.25],
      [30, 35, 0.5],
    ] as const;
    let expected = 0;
    for (const [eA, eB, rho] of intervals) {
      p.update(eA, eB, rho);
      expected +=
        eB * Math.log(theta(rho, d) / theta(rho, delta0)) +
        eA * Math.log((1 - theta(rho, d)) / (1 - theta(rho, delta0)));
    }
    assert.ok(Math.abs(p.logE() - expected) < 1e-9);
    // Treating the whole run as if at the first share would have been very different.
    const wrong = new RateRatioEProcess(grid);
    for (const [eA, eB] of intervals) wrong.update(eA, eB, 0.05);
    assert.ok(wrong.logE() - p.logE() > 10);
  });

  it("ignores intervals without events or without one arm", () => {
    const p = new RateRatioEProcess(standardGrid({ delta0: 0 }));
    p.update(0, 0, 0.3);
    p.update(5, 0, 0);
    p.update(0, 5, 1);
    assert.equal(p.logE(), 0);
    assert.throws(() => p.update(-1, 0, 0.5), RangeError);
    assert.throws(() => p.update(1, Number.NaN, 0.5), RangeError);
    assert.throws(() => p.update(1, 1, 1.5), RangeError);
  });

  it("its confidence sequence covers the true ratio and narrows with data", () => {
    const rng = new Rng(1234);
    const grid = standardGrid({ delta0: Math.log(1.1) });
    let misses = 0;
    const runs = 200;
    let lastWidth = 0;
    for (let r = 0; r < runs; r++) {
      const p = new RateRatioEProcess(grid);
      const truth = Math.log(2);
      let missed = false;
      for (let t = 0; t < 50; t++) {
        const rho = t < 25 ? 0.1 : 0.4;
        const n = rng.poisson(20);
        const eB = rng.binomial(n, theta(rho, truth));
        p.update(n - eB, eB, rho);
        const cs = p.confidenceSequence(0.05);
        if (!(cs.lower <= truth && truth <= cs.upper)) missed = true;
        if (t === 49) lastWidth = cs.upper - cs.lower;
      }
      if (missed) misses++;
    }
    // Time-uniform 95 %: at most 5 % of runs ever miss (binomial tolerance on 200 runs).
    assert.ok(misses <= 20, `${misses} of ${runs} runs left the sequence`);
    assert.ok(lastWidth < 0.6, `width ${lastWidth}`);
    const empty = new RateRatioEProcess(grid).confidenceSequence(0.05);
    assert.equal(empty.upper, Number.POSITIVE_INFINITY);
    assert.equal(empty.lower, Number.NEGATIVE_INFINITY);
  });

  it("round-trips its accumulated evidence through JSON exactly", () => {
    const grid = standardGrid({ delta0: Math.log(1.1) });
    const p = new RateRatioEProcess(grid);
    p.update(123.4, 17, 0.0731);
    p.update(80, 40, 0.333);
    const q = new RateRatioEProcess(grid);
    q.load(JSON.parse(JSON.stringify(p.snapshot())) as number[]);
    assert.equal(q.logE(), p.logE());
    assert.deepEqual(q.snapshot(), p.snapshot());
    assert.throws(() => q.load([1, 2]), RangeError);
  });
});
