import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Rng } from "./random.js";
import { RateRatioEProcess, standardGrid } from "./rate-ratio.js";
import { ACTIVE_RESTARTS, RestartMixture, restartLogWeight } from "./restart-mixture.js";

const grid = standardGrid({ delta0: Math.log(1.1) });
const MINUTE = 60_000;
const theta = (rho: number, ratio: number) => (rho * ratio) / (rho * ratio + 1 - rho);

describe("RestartMixture", () => {
  it("has weights that sum to at most 1 however long the run", () => {
    let sum = 0;
    for (let j = 0; j < 100_000; j++) sum += Math.exp(restartLogWeight(j));
    assert.ok(sum <= 1 && sum > 0.9999, `Σ w_j = ${sum}`);
  });

  it("without restarts is exactly the whole-run e-process", () => {
    const m = new RestartMixture(grid, 0);
    const p = new RateRatioEProcess(grid);
    const rng = new Rng(5);
    for (let t = 0; t < 50; t++) {
      const eB = rng.binomial(60, theta(0.1, 1.4));
      m.update(t * 10_000, 60 - eB, eB, 0.1);
      p.update(60 - eB, eB, 0.1);
    }
    assert.equal(m.logE(), p.logE());
  });

  it("starts a component every period and keeps only the newest few live", () => {
    const m = new RestartMixture(grid, 5 * MINUTE);
    for (let t = 0; t <= 30; t++) m.update(t * MINUTE, 10, 1, 0.05);
    const s = m.snapshot();
    assert.deepEqual(
      s.components.map((c) => c.j),
      [0, 1, 2, 3, 4, 5, 6],
    );
    const live = s.components.filter((c) => c.L !== undefined).map((c) => c.j);
    assert.deepEqual(live, [0, ...[4, 5, 6].slice(-ACTIVE_RESTARTS)]);
  });

  it("catches a late regression sooner than the whole-run process alone", () => {
    // Twenty healthy minutes, then the canary's errors double (100 requests/s, 5 % canary, 1 %).
    const detect = (everyMs: number, seed: number): number => {
      const m = new RestartMixture(grid, everyMs);
      const rng = new Rng(seed);
      for (let s = 0; s < 3600; s += 10) {
        const ratio = s >= 1200 ? 2 : 1;
        const eA = rng.poisson(950 * 0.01);
        const eB = rng.poisson(50 * 0.01 * ratio);
        m.update(s * 1000, eA, eB, 0.05);
        if (m.logE() >= Math.log(100)) return s - 1200;
      }
      return Number.POSITIVE_INFINITY;
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
    const seeds = Array.from({ length: 15 }, (_, i) => i + 1);
    const restarted = median(seeds.map((s) => detect(5 * MINUTE, s)));
    const whole = median(seeds.map((s) => detect(0, s)));
    assert.ok(restarted < whole, `with restarts ${restarted} s, without ${whole} s`);
  });

  it("round-trips its state, frozen components included", () => {
    const m = new RestartMixture(grid, MINUTE);
    const rng = new Rng(9);
    for (let t = 0; t < 12; t++) m.update(t * MINUTE, rng.poisson(20), rng.poisson(3), 0.1);
    const copy = new RestartMixture(grid, MINUTE);
    copy.load(structuredClone(m.snapshot()));
    assert.equal(copy.logE(), m.logE());
    assert.deepEqual(copy.leading(), m.leading());
    m.update(12 * MINUTE, 20, 9, 0.1);
    copy.update(12 * MINUTE, 20, 9, 0.1);
    assert.equal(copy.logE(), m.logE());
  });

  it("refuses a state saved with another period or out of order", () => {
    const m = new RestartMixture(grid, MINUTE);
    m.update(0, 10, 1, 0.1);
    assert.throws(
      () => new RestartMixture(grid, 2 * MINUTE).load(m.snapshot()),
      /saved with restarts every 60000 ms, not 120000 ms/,
    );
    const s = m.snapshot();
    assert.throws(
      () => new RestartMixture(grid, MINUTE).load({ ...s, components: [{ j: 1, L: [] }] }),
      /whole-run component is missing/,
    );
    assert.throws(() => new RestartMixture(grid, -1), /restart period must be ≥ 0 ms/);
  });
});
