import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Rng, seedOf } from "./random.js";

function moments(draw: () => number, n: number): { mean: number; variance: number } {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const x = draw();
    s += x;
    s2 += x * x;
  }
  const mean = s / n;
  return { mean, variance: s2 / n - mean * mean };
}

describe("Rng", () => {
  it("is reproducible from its seed", () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xs = Array.from({ length: 5 }, () => a.next());
    assert.deepEqual(
      xs,
      Array.from({ length: 5 }, () => b.next()),
    );
    assert.notDeepEqual(
      xs,
      Array.from({ length: 5 }, () => c.next()),
    );
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.equal(seedOf("abc"), seedOf("abc"));
  });

  for (const [n, p] of [
    [30, 0.1],
    [10_000, 0.001],
    [500, 0.3],
    [9_500, 0.05],
    [100, 0.9],
  ] as const) {
    it(`binomial(${n}, ${p}) has the right mean and variance`, () => {
      const rng = new Rng(seedOf(`b${n}${p}`));
      const draws = 20_000;
      const { mean, variance } = moments(() => rng.binomial(n, p), draws);
      const mu = n * p;
      const v = n * p * (1 - p);
      assert.ok(Math.abs(mean - mu) < 5 * Math.sqrt(v / draws), `mean ${mean} vs ${mu}`);
      assert.ok(Math.abs(variance / v - 1) < 0.06, `variance ${variance} vs ${v}`);
    });
  }

  for (const lambda of [0.3, 4, 25, 1_000]) {
    it(`poisson(${lambda}) has the right mean and variance`, () => {
      const rng = new Rng(seedOf(`p${lambda}`));
      const draws = 20_000;
      const { mean, variance } = moments(() => rng.poisson(lambda), draws);
      assert.ok(Math.abs(mean - lambda) < 5 * Math.sqrt(lambda / draws), `mean ${mean}`);
      assert.ok(Math.abs(variance / lambda - 1) < 0.06, `variance ${variance}`);
    });
  }

  it("shock(cv) has mean 1 and the given coefficient of variation", () => {
    const rng = new Rng(7);
    const { mean, variance } = moments(() => rng.shock(0.3), 40_000);
    assert.ok(Math.abs(mean - 1) < 0.01);
    assert.ok(Math.abs(Math.sqrt(variance) - 0.3) < 0.01);
    assert.equal(rng.shock(0), 1);
  });

  it("beta(a, b) has mean a / (a + b)", () => {
    const rng = new Rng(9);
    const { mean } = moments(() => rng.beta(2, 6), 40_000);
    assert.ok(Math.abs(mean - 0.25) < 0.005);
  });
});
