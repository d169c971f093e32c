import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { JudgeConfig } from "../../spec/analysis.js";
import { classifyMetric, type MannWhitneyConfig } from "./classify.js";
import { iqrFences, percentile } from "./preprocess.js";

type Side = { raw?: number; nans?: number; outliers?: number; n?: number };
interface Case {
  name: string;
  experiment: (number | string | null)[];
  control: (number | string | null)[];
  config: Record<string, unknown>;
  expected: {
    label: string;
    critical: boolean;
    code?: string;
    estimate?: number;
    lower?: number;
    upper?: number;
    tolerance?: number;
    ratio?: number | null;
    noise?: boolean;
    within?: number;
    experiment?: Side;
    control?: Side;
  };
}

const fixtures = JSON.parse(
  readFileSync(new URL("./fixtures/classify.json", import.meta.url), "utf8"),
) as {
  cases: Case[];
};

/** null in the fixture is NaN, "Infinity" is Infinity. */
function series(values: (number | string | null)[]): number[] {
  return values.map((v) => (v === null ? Number.NaN : Number(v)));
}

function mwConfig(partial: Record<string, unknown>): MannWhitneyConfig {
  const parsed = JudgeConfig.parse({ mannWhitney: partial });
  assert.ok("mannWhitney" in parsed);
  return parsed.mannWhitney;
}

function near(actual: number | undefined, expected: number, within: number, what: string): void {
  assert.ok(
    actual !== undefined && Math.abs(actual - expected) <= within,
    `${what}: ${actual} is not within ${within} of ${expected}`,
  );
}

describe("NetflixACAJudge classification (fixtures)", () => {
  for (const c of fixtures.cases) {
    it(c.name, () => {
      const r = classifyMetric(series(c.experiment), series(c.control), mwConfig(c.config));
      const e = c.expected;
      const within = e.within ?? 1e-9;
      assert.equal(r.label, e.label, r.reason);
      assert.equal(r.critical, e.critical, "critical");
      if (e.code !== undefined) assert.equal(r.code, e.code);
      if (e.estimate !== undefined) near(r.test?.estimate, e.estimate, within, "estimate");
      if (e.lower !== undefined) near(r.test?.lower, e.lower, within, "lower");
      if (e.upper !== undefined) near(r.test?.upper, e.upper, within, "upper");
      if (e.tolerance !== undefined) near(r.test?.tolerance, e.tolerance, within, "tolerance");
      if (e.ratio === null) assert.equal(r.ratio, null);
      else if (e.ratio !== undefined) near(r.ratio ?? undefined, e.ratio, within, "ratio");
      if (e.noise !== undefined) assert.equal(r.noise, e.noise);
      for (const side of ["experiment", "control"] as const) {
        for (const [k, v] of Object.entries(e[side] ?? {}))
          assert.equal(r[side][k as keyof Side], v, `${side}.${k}`);
      }
      assert.ok(r.reason.length > 0);
    });
  }
});

describe("classification details", () => {
  it("is reproducible with noise, and the seed matters", () => {
    const cfg = mwConfig({});
    const a = classifyMetric([20, 20, 20, 20, 20], [10, 10, 10, 10, 10], cfg);
    const b = classifyMetric([20, 20, 20, 20, 20], [10, 10, 10, 10, 10], cfg);
    const c = classifyMetric([20, 20, 20, 20, 20], [10, 10, 10, 10, 10], cfg, { seed: 7 });
    assert.deepEqual(a, b);
    assert.notEqual(a.test?.estimate, c.test?.estimate);
    assert.equal(c.label, "High");
  });

  it("says why it passed", () => {
    const cfg = mwConfig({ direction: "either" });
    const overlap = classifyMetric([5, 7, 8, 9, 10, 12, 13, 15], [1, 3, 4, 6, 8, 9, 11], cfg);
    assert.equal(overlap.label, "Pass");
    assert.match(overlap.reason, /98 % CI \[-1, \+9\] not clear of tolerance ±1/);
    const gated = classifyMetric(
      [11, 12, 13, 14, 15],
      [1, 2, 3, 4, 5],
      mwConfig({ effectSize: { allowedIncrease: 5 } }),
    );
    assert.match(gated.reason, /meanRatio 4\.333 < allowedIncrease 5/);
  });

  it("reports the summaries of each side", () => {
    const r = classifyMetric([11, Number.NaN, 12, 13, 14, 15], [1, 2, 3, 4, 5], mwConfig({}));
    assert.deepEqual(r.experiment, { raw: 6, nans: 1, outliers: 0, n: 5, mean: 13, median: 13 });
    assert.deepEqual(r.control, { raw: 5, nans: 0, outliers: 0, n: 5, mean: 3, median: 3 });
  });
});

describe("preprocessing", () => {
  it("uses type-7 percentiles, like Kayenta's tests", () => {
    const data = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5];
    assert.ok(Math.abs(percentile(data, 5) - 0.175) < 1e-12);
    assert.equal(percentile(data, 50), 1.75);
    assert.equal(percentile(data, 100), 3.5);
    const nist = [
      95.061, 95.0925, 95.1195, 95.1442, 95.1567, 95.1591, 95.1682, 95.1772, 95.1772, 95.1937,
      95.1959, 95.199,
    ];
    assert.ok(Math.abs(percentile(nist, 90) - 95.19568) < 1e-9);
  });

  it("widens the IQR fences to p1/p99", () => {
    // 1..97 and three large values: Tukey's upper fence (Q3 75.25 + 3·49.5 = 223.75) would drop
    // all three; p99 = 600 + 0.01·100 = 601 keeps 500 and 600. Lower: min(p1 1.99, −122.75).
    const data = [...Array.from({ length: 97 }, (_, i) => i + 1), 500, 600, 700];
    const f = iqrFences(data, 3);
    assert.ok(Math.abs(f.upper - 601) < 1e-9, `upper ${f.upper}`);
    assert.ok(Math.abs(f.lower - -122.75) < 1e-9, `lower ${f.lower}`);
    const r = classifyMetric(
      data,
      data.slice(0, 97),
      mwConfig({ outliers: { strategy: "remove" } }),
    );
    assert.equal(r.experiment.outliers, 1);
  });
});
