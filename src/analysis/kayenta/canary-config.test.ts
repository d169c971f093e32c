import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { CanaryConfigError, readCanaryConfig } from "./canary-config.js";
import { judgeCanary } from "./judge.js";

const text = readFileSync(new URL("./fixtures/canary-config.json", import.meta.url), "utf8");
// biome-ignore lint/suspicious/noExplicitAny: the tests break the parsed JSON in many nested places
const fixture = (): Record<string, any> => JSON.parse(text);

function failsAt(doc: unknown, path: string, message: RegExp): void {
  assert.throws(
    () => readCanaryConfig(doc),
    (err: unknown) => {
      assert.ok(err instanceof CanaryConfigError, String(err));
      assert.equal(err.path, path);
      assert.match(err.message, message);
      return true;
    },
  );
}

describe("reading a Kayenta canary config", () => {
  it("reads metrics, groups, weights and Kayenta's defaults", () => {
    const c = readCanaryConfig(text);
    assert.equal(c.name, "checkout golden signals");
    assert.equal(c.judgeName, "NetflixACAJudge-v1.0");
    assert.deepEqual(c.groups, ["Errors", "Latency", "Saturation"]);
    assert.deepEqual(c.groupWeights, { Errors: 50, Latency: 30 });
    assert.equal(c.scoreThresholds, undefined);
    const [errors, p99, cpu, throughput] = c.metrics;
    assert.deepEqual(errors?.judge, {
      direction: "increase",
      confidence: 0.98,
      nanStrategy: "replace",
      outliers: { strategy: "keep", factor: 3 },
      effectSize: { measure: "meanRatio", allowedIncrease: 1.1, criticalIncrease: 5 },
      critical: true,
      mustHaveData: false,
    });
    assert.equal((errors?.query as { type: string } | undefined)?.type, "prometheus");
    assert.equal(p99?.judge.mustHaveData, true, "string booleans are read");
    assert.deepEqual(p99?.judge.outliers, { strategy: "remove", factor: 2.5 });
    assert.equal(cpu?.muted, true);
    assert.deepEqual(cpu?.groups, ["Saturation", "Latency"]);
    assert.equal(cpu?.judge.effectSize.measure, "cles");
    // Nothing configured: Kayenta's defaults, not the spec's (direction either).
    assert.deepEqual(throughput?.judge, {
      direction: "either",
      confidence: 0.98,
      nanStrategy: "remove",
      outliers: { strategy: "keep", factor: 3 },
      effectSize: { measure: "meanRatio" },
      critical: false,
      mustHaveData: false,
    });
  });

  it("reads score thresholds when the classifier has them", () => {
    const doc = fixture();
    doc.classifier.scoreThresholds = { pass: 90, marginal: 75 };
    assert.deepEqual(readCanaryConfig(doc).scoreThresholds, { pass: 90, marginal: 75 });
  });

  it("names the field at fault", () => {
    failsAt("{ nope", "", /not valid JSON/);
    failsAt([], "", /expected an object, got an array/);
    let doc = fixture();
    doc.judge.name = "dredd-v1.0";
    failsAt(doc, "judge.name", /only NetflixACAJudge-v1\.0 is supported, got "dredd-v1\.0"/);
    doc = fixture();
    delete doc.judge;
    failsAt(doc, "judge", /missing/);
    doc = fixture();
    doc.judge.judgeConfigurations = { tolerance: 0.5 };
    failsAt(doc, "judge.judgeConfigurations.tolerance", /unsupported/);
    doc = fixture();
    doc.metrics[1].analysisConfigurations.canary.direction = "up";
    failsAt(
      doc,
      "metrics[1].analysisConfigurations.canary.direction",
      /expected one of increase, decrease, either, got "up"/,
    );
    doc = fixture();
    doc.metrics[0].analysisConfigurations.canary.criticality = "critical";
    failsAt(
      doc,
      "metrics[0].analysisConfigurations.canary.criticality",
      /unknown or unsupported field/,
    );
    doc = fixture();
    doc.metrics[0].analysisConfigurations.canary.effectSize.allowedIncrease = "lots";
    failsAt(
      doc,
      "metrics[0].analysisConfigurations.canary.effectSize.allowedIncrease",
      /expected a number, got "lots"/,
    );
    doc = fixture();
    doc.metrics[0].analysisConfigurations.canary.effectSize.measure = "cohenD";
    failsAt(doc, "metrics[0].analysisConfigurations.canary.effectSize.measure", /meanRatio, cles/);
    doc = fixture();
    doc.metrics[1].analysisConfigurations.canary.outliers.outlierFactor = 0;
    failsAt(
      doc,
      "metrics[1].analysisConfigurations.canary.outliers.outlierFactor",
      /greater than 0/,
    );
    doc = fixture();
    doc.metrics[1].analysisConfigurations.canary.nanStrategy = "none";
    failsAt(doc, "metrics[1].analysisConfigurations.canary.nanStrategy", /remove, replace/);
    doc = fixture();
    doc.metrics[2].analysisConfigurations.canary.critical = "yes";
    failsAt(doc, "metrics[2].analysisConfigurations.canary.critical", /true or false/);
    doc = fixture();
    doc.metrics[2].analysisConfigurations.baseline = {};
    failsAt(doc, "metrics[2].analysisConfigurations.baseline", /unknown or unsupported/);
    doc = fixture();
    doc.metrics[3].groups = [];
    failsAt(doc, "metrics[3].groups", /at least one group/);
    doc = fixture();
    doc.metrics[3].name = "cpu";
    failsAt(doc, "metrics[3].name", /already the name of metrics\[2\]/);
    doc = fixture();
    doc.metrics = [];
    failsAt(doc, "metrics", /at least one metric/);
    doc = fixture();
    doc.metrics[0].thresholds = {};
    failsAt(doc, "metrics[0].thresholds", /unknown or unsupported/);
    doc = fixture();
    doc.classifier.groupWeights = { Errors: 60, Latency: 50 };
    failsAt(doc, "classifier.groupWeights", /at most 100, got 110/);
    doc = fixture();
    doc.classifier.groupWeights = { Errors: 50, latency: 30 };
    failsAt(doc, "classifier.groupWeights.latency", /no metric is in group "latency"/);
    doc = fixture();
    doc.classifier.groupWeights = { Errors: -5 };
    failsAt(doc, "classifier.groupWeights.Errors", /weight ≥ 0/);
    doc = fixture();
    doc.classifier.scoreThresholds = { pass: 50, marginal: 75 };
    failsAt(doc, "classifier.scoreThresholds.marginal", /must not exceed pass/);
    doc = fixture();
    doc.owner = "me";
    failsAt(doc, "owner", /unknown or unsupported field/);
  });
});

describe("judging a canary with a Kayenta config", () => {
  it("classifies each metric and scores the canary", () => {
    const config = readCanaryConfig(text);
    const result = judgeCanary(
      config,
      {
        // Errors: canary 5xx rate clearly up (ratio 13/3 ≥ 5 → critical).
        "5xx rate": { experiment: [11, 12, 13, 14, 15], control: [1, 2, 3, 4, 5] },
        "p99 latency": { experiment: [100, 101, 102, 103], control: [101, 100, 103, 102] },
        cpu: { experiment: [1, 2, 3], control: [] },
        // throughput missing entirely: Nodata
      },
      { pass: 75, marginal: 50 },
    );
    const labels = Object.fromEntries(result.results.map((r) => [r.name, r.classification.label]));
    assert.deepEqual(labels, {
      "5xx rate": "High",
      "p99 latency": "Pass",
      cpu: "Nodata",
      throughput: "Nodata",
    });
    assert.equal(
      result.results[0]?.classification.critical,
      false,
      "13/3 = 4.33 < criticalIncrease 5",
    );
    // Errors 0 (weight 50), Latency 100 (30), Saturation noData 100 (20): 0 + 30 + 20 = 50;
    // Nodata 1 of 3 unmuted (cpu is muted) < 50 %. 50 ≤ marginal: Fail.
    assert.equal(result.score.score, 50);
    assert.equal(result.score.classification, "Fail");
  });
});
