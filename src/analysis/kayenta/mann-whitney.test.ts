import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { cles, MannWhitneyError, mannWhitney, stepRoot } from "./mann-whitney.js";

interface Case {
  name: string;
  experiment: number[];
  control: number[];
  confidence: number;
  expected: { estimate: number; lower: number; upper: number; pValue: number };
}

const fixtures = JSON.parse(
  readFileSync(new URL("./fixtures/mann-whitney.json", import.meta.url), "utf8"),
) as {
  cases: Case[];
};

function near(actual: number, expected: number, within: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= within,
    `${what}: ${actual} is not within ${within} of ${expected}`,
  );
}

describe("Mann-Whitney (hand-checked fixtures)", () => {
  for (const c of fixtures.cases) {
    it(c.name, () => {
      const r = mannWhitney(c.experiment, c.control, c.confidence);
      near(r.estimate, c.expected.estimate, 1e-9, "estimate");
      near(r.lower, c.expected.lower, 1e-9, "lower");
      near(r.upper, c.expected.upper, 1e-9, "upper");
      near(r.pValue, c.expected.pValue, 1e-9, "pValue");
      assert.equal(r.m, c.experiment.length);
      assert.equal(r.n, c.control.length);
    });
  }
});

describe("Mann-Whitney properties", () => {
  it("does not depend on input order", () => {
    const a = mannWhitney([15, 11, 13, 12, 14], [5, 1, 4, 2, 3]);
    const b = mannWhitney([11, 12, 13, 14, 15], [1, 2, 3, 4, 5]);
    assert.deepEqual(a, b);
  });

  it("moves with a shift of the experiment", () => {
    const x = [5, 7, 8, 9, 10, 12, 13, 15];
    const y = [1, 3, 4, 6, 8, 9, 11];
    const base = mannWhitney(x, y);
    const shifted = mannWhitney(
      x.map((v) => v + 100),
      y,
    );
    near(shifted.estimate, base.estimate + 100, 1e-9, "estimate");
    near(shifted.lower, base.lower + 100, 1e-9, "lower");
    near(shifted.upper, base.upper + 100, 1e-9, "upper");
  });

  it("is the median of pairwise differences for an even count (midpoint of the two middle ones)", () => {
    // Differences of [0, 10] - [0, 1]: -1, 0, 9, 10 → median 4.5.
    near(mannWhitney([0, 10], [0, 1]).estimate, 4.5, 1e-9, "estimate");
  });

  it("keeps precision on small scales (no absolute 1e-4 tolerance)", () => {
    const x = [0.0011, 0.0012, 0.0013, 0.0014, 0.0015];
    const y = [0.0001, 0.0002, 0.0003, 0.0004, 0.0005];
    const r = mannWhitney(x, y);
    near(r.estimate, 0.001, 1e-15, "estimate");
    near(r.lower, 0.0006, 1e-15, "lower");
    near(r.upper, 0.0014, 1e-15, "upper");
  });

  it("narrows as confidence drops", () => {
    const x = [5, 7, 8, 9, 10, 12, 13, 15];
    const y = [1, 3, 4, 6, 8, 9, 11];
    const wide = mannWhitney(x, y, 0.98);
    const narrow = mannWhitney(x, y, 0.8);
    assert.ok(narrow.lower >= wide.lower && narrow.upper <= wide.upper);
  });

  it("refuses what it cannot compute", () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        assert.ok(err instanceof MannWhitneyError);
        return err.code;
      }
      assert.fail("expected a MannWhitneyError");
    };
    assert.equal(
      code(() => mannWhitney([], [1, 2])),
      "EMPTY",
    );
    assert.equal(
      code(() => mannWhitney([1, Number.NaN], [1, 2])),
      "NOT_FINITE",
    );
    assert.equal(
      code(() => mannWhitney([3], [1])),
      "ALL_TIED",
    );
    assert.equal(
      code(() => mannWhitney([1, 2], [1, 2], 1)),
      "BAD_CONFIDENCE",
    );
  });
});

describe("stepRoot", () => {
  it("returns the jump of a step function", () => {
    near(
      stepRoot((x) => (x < Math.PI ? 1 : -1), 0, 10),
      Math.PI,
      1e-10,
      "root",
    );
  });
  it("returns the midpoint of a flat zero", () => {
    near(
      stepRoot((x) => (x < 2 ? 1 : x > 5 ? -1 : 0), 0, 10),
      3.5,
      1e-10,
      "root",
    );
  });
  it("returns an end when the sign never changes inside", () => {
    assert.equal(
      stepRoot(() => -1, 0, 10),
      0,
    );
    assert.equal(
      stepRoot(() => 1, 0, 10),
      10,
    );
  });
});

describe("CLES", () => {
  it("matches Kayenta's own tests", () => {
    assert.equal(cles([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]), 0.5);
    // Kayenta EffectSizes test "CLES Effect Size: High Metric": 0.771 ± 0.001.
    const experiment = [
      29.17644856, 25.16947646, 25.88467948, 29.4900454, 27.05622757, 26.13307864, 27.2711558,
      26.69139944, 29.05412377, 26.39818697, 26.68312641, 24.99600187, 27.99524816, 22.57278291,
      23.72798196, 25.82821505, 28.26624521, 28.02370228, 24.1792213, 26.02914828, 25.90970275,
      31.18337461, 27.44254942, 29.93347686, 26.70848069, 28.12191913, 27.39257837, 30.17636627,
      29.60240485, 30.10635388,
    ];
    const control = [
      24.69397578, 25.37120574, 25.86186148, 26.93804252, 22.72232309, 24.15894084, 24.80842752,
      26.07830794, 27.35323988, 23.25110886, 24.65909111, 23.88299016, 21.34817847, 26.33198082,
      23.39498829, 26.6734461, 25.33769589, 23.92348759, 25.29740715, 24.21381887, 28.1697053,
      22.2271772, 27.16612837, 25.16639243, 26.85955896, 27.13421926, 25.43350074, 26.32130314,
      23.8854011, 27.86180318,
    ];
    near(cles(experiment, control), 0.771, 0.001, "cles");
  });
});
