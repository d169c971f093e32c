import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Rng } from "./random.js";
import { standardGrid } from "./rate-ratio.js";
import { PRIOR_INTERVALS, SplitDispersion } from "./split-dispersion.js";

const grid = standardGrid({ delta0: Math.log(1.1) });
const theta = (rho: number, ratio: number) => (rho * ratio) / (rho * ratio + 1 - rho);

/** Feeds `intervals` intervals of `n` events, the canary's share drawn from a drifting ratio. */
function feed(
  d: SplitDispersion,
  rng: Rng,
  opts: { intervals: number; n: number; rho: number; ratio: number; s: number },
): void {
  for (let i = 0; i < opts.intervals; i++) {
    const drift = Math.exp(opts.s * rng.normal());
    const eB = rng.binomial(opts.n, theta(opts.rho, opts.ratio * drift));
    d.add(opts.n - eB, eB, opts.rho);
  }
}

describe("SplitDispersion", () => {
  it("starts at the prior: φ = 1 + n θ(1 − θ) s₀²", () => {
    const d = new SplitDispersion(grid.deltas, 0.25);
    assert.equal(d.s2(0), 0.25);
    // Read at the kept ratio nearest δ = 0 (the sums are kept every 0.24 in δ): θ(1 − θ) ≈ 1/4.
    assert.ok(Math.abs(d.phi(100, 0.5, 0) - (1 + 100 * 0.25 * 0.25)) < 0.05);
    assert.equal(d.phi(0, 0.5, 0), 1, "no events, no inflation");
    assert.equal(d.phi(100, 0, 0), 1, "no canary share, no inflation");
  });

  it("learns that binomial counts have no drift", () => {
    const d = new SplitDispersion(grid.deltas, 0.25);
    feed(d, new Rng(1), { intervals: 400, n: 500, rho: 0.5, ratio: 1, s: 0 });
    // From the prior 0.25 to about (0.12)²: the sums are kept at ratios 0.24 apart in δ and read
    // at the one nearest the estimate, which adds up to the squared half-spacing (conservative).
    assert.ok(d.s2(0) < 0.02, `s² ${d.s2(0)}`);
  });

  it("recovers the drift variance of the arms' log ratio", () => {
    for (const s of [0.2, 0.4]) {
      const d = new SplitDispersion(grid.deltas, 0.25);
      feed(d, new Rng(7), { intervals: 2000, n: 2000, rho: 0.3, ratio: 1, s });
      const est = d.s2(0);
      assert.ok(Math.abs(est - s * s) < 0.25 * s * s, `s ${s}: s² ${est}, want ≈ ${s * s}`);
    }
  });

  it("weighs the prior as PRIOR_INTERVALS busy intervals", () => {
    // Five intervals that show no drift at all pull the estimate to about half the prior.
    const d = new SplitDispersion(grid.deltas, 0.25);
    for (let i = 0; i < PRIOR_INTERVALS; i++) d.add(5000, 5000, 0.5);
    const est = d.s2(0);
    assert.ok(est > 0.1 && est < 0.15, `s² ${est}`);
  });

  it("does not take a gross effect for drift, inside or beyond the test's grid", () => {
    // A canary failing 1 in 5 against a stable arm with no errors (ratio ∞, beyond the grid),
    // and one with ten times the stable rate (5 % against 0.5 %), each interval exactly as
    // expected: no drift at all. `delta` is what a capped test may hold, well below the effect;
    // read there, the effect would pass for drift (φ 19 to 30 before this was fixed).
    const cases = [
      { eB: 40, eA: 0, rho: 0.2, intervals: 3 },
      { eB: 100, eA: 40, rho: 0.2, intervals: 40 },
    ];
    for (const { eB, eA, rho, intervals } of cases) {
      const d = new SplitDispersion(grid.deltas, 0.25);
      for (let i = 0; i < intervals; i++) d.add(eA, eB, rho);
      const phi = d.phi(eA + eB, rho, Math.log(2));
      assert.ok(phi < 1.5, `${eB} vs ${eA}: φ ${phi}`);
    }
  });

  it("round-trips its state and refuses one for another grid", () => {
    const d = new SplitDispersion(grid.deltas, 0.25);
    feed(d, new Rng(3), { intervals: 30, n: 300, rho: 0.1, ratio: 1.5, s: 0.3 });
    const copy = new SplitDispersion(grid.deltas, 0.25);
    copy.load(structuredClone(d.snapshot()));
    assert.equal(copy.phi(300, 0.1, 0.4), d.phi(300, 0.1, 0.4));
    const other = new SplitDispersion(standardGrid({ delta0: 0.1, maxDelta: 1 }).deltas, 0.25);
    assert.throws(() => other.load(d.snapshot()), /not a dispersion state for this grid/);
    assert.throws(
      () => copy.load({ ...d.snapshot(), score: d.snapshot().score.map(() => Number.NaN) }),
      /not a dispersion state/,
    );
  });

  it("refuses a prior that is not a positive number", () => {
    assert.throws(() => new SplitDispersion(grid.deltas, 0), /prior s² must be > 0/);
    assert.throws(() => new SplitDispersion(grid.deltas, Number.NaN), /prior s² must be > 0/);
  });
});
