import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { logAddExp, logSumExp } from "./logsumexp.js";

describe("logSumExp", () => {
  it("matches the direct sum where that is representable", () => {
    const xs = [0.5, -1, 2, 3.25];
    const direct = Math.log(xs.reduce((s, x) => s + Math.exp(x), 0));
    assert.ok(Math.abs(logSumExp(xs) - direct) < 1e-12);
  });
  it("neither overflows nor underflows", () => {
    assert.ok(Math.abs(logSumExp([1000, 1000]) - (1000 + Math.LN2)) < 1e-9);
    assert.ok(Math.abs(logSumExp([-5000, -5000, -5000]) - (-5000 + Math.log(3))) < 1e-9);
  });
  it("adds pairwise weights and honours a sub-range", () => {
    const a = [1, 2, 3, 4];
    const b = [0, Math.log(2), Number.NEGATIVE_INFINITY, 0];
    const expected = Math.log(Math.exp(2) * 2 + 0);
    assert.ok(Math.abs(logSumExp(a, b, 1, 3) - expected) < 1e-12);
  });
  it("is −∞ for an empty or all −∞ sum and NaN for NaN", () => {
    assert.equal(logSumExp([]), Number.NEGATIVE_INFINITY);
    assert.equal(logSumExp([Number.NEGATIVE_INFINITY]), Number.NEGATIVE_INFINITY);
    assert.ok(Number.isNaN(logSumExp([1, Number.NaN])));
  });
  it("logAddExp agrees with logSumExp", () => {
    assert.ok(Math.abs(logAddExp(-3, 700) - logSumExp([-3, 700])) < 1e-12);
    assert.equal(logAddExp(Number.NEGATIVE_INFINITY, 2), 2);
  });
});
