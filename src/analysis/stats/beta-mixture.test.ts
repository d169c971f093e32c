import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { logBetaMixtureBF, logOneSidedBetaMixtureBF } from "./beta-mixture.js";

/** ∫ Beta(θ; a, b) L(θ)/L(θ₀) dθ over (lo, 1), normalised by the prior mass there, by the midpoint rule. */
function numeric(n1: number, n0: number, t0: number, a: number, b: number, lo: number): number {
  const steps = 200_000;
  const h = (1 - lo) / steps;
  let num = 0;
  let mass = 0;
  for (let i = 0; i < steps; i++) {
    const t = lo + (i + 0.5) * h;
    const prior = t ** (a - 1) * (1 - t) ** (b - 1);
    mass += prior;
    num += prior * Math.exp(n1 * Math.log(t / t0) + n0 * Math.log((1 - t) / (1 - t0)));
  }
  return Math.log(num / mass);
}

describe("Beta-mixture Bayes factors", () => {
  it("two-sided matches numerical integration", () => {
    const got = logBetaMixtureBF(12, 30, 0.05, 5, 95);
    assert.ok(Math.abs(got - numeric(12, 30, 0.05, 5, 95, 0)) < 1e-4, String(got));
  });
  it("one-sided matches numerical integration over θ > θ₀", () => {
    const got = logOneSidedBetaMixtureBF(12, 30, 0.05, 5, 95);
    assert.ok(Math.abs(got - numeric(12, 30, 0.05, 5, 95, 0.05)) < 1e-4, String(got));
  });
  it("is 1 before any event and penalises a canary that looks better", () => {
    assert.ok(Math.abs(logOneSidedBetaMixtureBF(0, 0, 0.2, 20, 80)) < 1e-12);
    assert.ok(logOneSidedBetaMixtureBF(0, 200, 0.2, 20, 80) < -2);
  });
  it("rejects bad arguments", () => {
    assert.throws(() => logBetaMixtureBF(-1, 0, 0.5, 1, 1), RangeError);
    assert.throws(() => logBetaMixtureBF(1, 0, 1, 1, 1), RangeError);
    assert.throws(() => logOneSidedBetaMixtureBF(1, 0, 0.5, 0, 1), RangeError);
  });
});
