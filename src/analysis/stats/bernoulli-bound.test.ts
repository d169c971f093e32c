import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bernoulliLowerBound, bernoulliUpperBound } from "./bernoulli-bound.js";

describe("bernoulliUpperBound", () => {
  it("matches the closed form for zero events: p = 1 − ((n + 1) / α)^(−1/n)", () => {
    for (const n of [10, 500, 5000]) {
      const expected = 1 - ((n + 1) / 0.01) ** (-1 / n);
      assert.ok(Math.abs(bernoulliUpperBound(0, n, 0.01) - expected) < 1e-7, `n=${n}`);
    }
  });

  it("lies above the observed share and shrinks as evidence grows", () => {
    const a = bernoulliUpperBound(5, 100, 0.01);
    const b = bernoulliUpperBound(50, 1000, 0.01);
    assert.ok(a > 0.05 && b > 0.05 && b < a);
  });

  it("covers the true rate at every look in at least 1 − α of simulated sequences", () => {
    let seed = 42;
    const rand = () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    const p = 0.02;
    let misses = 0;
    const runs = 400;
    for (let r = 0; r < runs; r++) {
      let k = 0;
      for (let n = 1; n <= 2000; n++) {
        if (rand() < p) k++;
        if (n % 50 === 0 && bernoulliUpperBound(k, n, 0.05) < p) {
          misses++;
          break;
        }
      }
    }
    // α = 5 %: allow binomial noise around 20 of 400.
    assert.ok(misses <= 34, `missed in ${misses} of ${runs} sequences`);
  });

  it("gives a lower bound below the observed share, zero without events", () => {
    assert.equal(bernoulliLowerBound(0, 1000, 0.01), 0);
    const lower = bernoulliLowerBound(50, 1000, 0.01);
    assert.ok(lower > 0 && lower < 0.05, `lower ${lower}`);
    assert.ok(Math.abs(lower - (1 - bernoulliUpperBound(950, 1000, 0.01))) < 1e-12);
  });
});
