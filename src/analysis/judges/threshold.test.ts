import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ArmObservation, Observation } from "../types.js";
import { checkThresholdExpression, createThresholdJudge } from "./threshold.js";

function obs(canary: Partial<ArmObservation>, stable?: Partial<ArmObservation>): Observation {
  return {
    canary: { value: null, ...canary },
    ...(stable === undefined ? {} : { stable: { value: null, ...stable } }),
    from: 0,
    to: 10_000,
  };
}

describe("threshold expressions", () => {
  it("accepts conditions over the variables", () => {
    for (const ok of [
      "result < 0.05",
      "result <= 5",
      "result < stable * 1.5",
      "stable == null || result < stable + 0.02",
      "requests >= 100 && errors / requests < 0.01",
      "result > 0.5 ? requests > 10 : true",
    ]) {
      assert.equal(checkThresholdExpression(ok), undefined, ok);
    }
  });

  it("names the problem and where", () => {
    assert.equal(checkThresholdExpression("result >"), "Unexpected token: EOF (column 9)");
    assert.equal(checkThresholdExpression("(result > 1"), "Expected RPAREN, got EOF (column 12)");
    assert.equal(checkThresholdExpression("latency > 1"), "Unknown variable: latency (column 1)");
    assert.equal(
      checkThresholdExpression('result + "ms" == "1ms"'),
      "no such overload: double + string (column 1)",
    );
    assert.equal(
      checkThresholdExpression("result"),
      "a condition must be true or false, but this is a double",
    );
    assert.equal(
      checkThresholdExpression("result > 1 &&\n  rsult < 2"),
      "Unknown variable: rsult (line 2, column 3)",
    );
  });

  it("refuses a bad condition when the judge is created, naming it", () => {
    assert.throws(
      () => createThresholdJudge({ failureCondition: "result >" }),
      /threshold judge: failureCondition "result >" is invalid: Unexpected token: EOF \(column 9\)/,
    );
    assert.throws(
      () => createThresholdJudge({ successCondition: "result < 1", failureCondition: "x > 1" }),
      /failureCondition "x > 1" is invalid: Unknown variable: x/,
    );
    assert.throws(
      () => createThresholdJudge({}),
      /needs a successCondition, a failureCondition or both/,
    );
  });
});

describe("threshold judge", () => {
  it("is a stateless interval judge", () => {
    const j = createThresholdJudge({ successCondition: "result < 1" });
    assert.equal(j.type, "threshold");
    assert.equal(j.window, "interval");
    assert.deepEqual(j.slowEdgesMs, []);
    assert.equal(j.state(), null);
  });

  it("follows Argo: failure first, then success", () => {
    const both = createThresholdJudge({
      successCondition: "result < 0.01",
      failureCondition: "result > 0.05",
    });
    assert.equal(both.judge(obs({ value: 0.1 }), 0).phase, "Failed");
    assert.equal(both.judge(obs({ value: 0.001 }), 0).phase, "Successful");
    assert.equal(both.judge(obs({ value: 0.03 }), 0).phase, "Inconclusive");
    // Both true: failure wins.
    const overlap = createThresholdJudge({
      successCondition: "result >= 0",
      failureCondition: "result > 0.05",
    });
    assert.equal(overlap.judge(obs({ value: 0.1 }), 0).phase, "Failed");

    const onlySuccess = createThresholdJudge({ successCondition: "result < 0.01" });
    assert.equal(onlySuccess.judge(obs({ value: 0.001 }), 0).phase, "Successful");
    assert.equal(onlySuccess.judge(obs({ value: 0.03 }), 0).phase, "Failed");

    const onlyFailure = createThresholdJudge({ failureCondition: "result > 0.05" });
    assert.equal(onlyFailure.judge(obs({ value: 0.1 }), 0).phase, "Failed");
    assert.equal(onlyFailure.judge(obs({ value: 0.03 }), 0).phase, "Successful");
  });

  it("says what it saw and which condition decided", () => {
    const j = createThresholdJudge({ failureCondition: "result > stable * 1.5" });
    const v = j.judge(obs({ value: 212, requests: 1520, errors: 3 }, { value: 140 }), 0);
    assert.equal(v.phase, "Failed");
    assert.equal(v.value, 212);
    assert.equal(
      v.message,
      'result 212, stable 140, 1520 requests: failureCondition "result > stable * 1.5" is true → Failed',
    );
    assert.deepEqual(v.evidence, {
      result: 212,
      stable: 140,
      requests: 1520,
      errors: 3,
      failureCondition: true,
    });
  });

  it("gives requests and errors, 0 when not counted", () => {
    const j = createThresholdJudge({
      successCondition: "requests >= 100 && errors / requests < 0.01",
    });
    assert.equal(j.judge(obs({ value: 0.001, requests: 1000, errors: 5 }), 0).phase, "Successful");
    assert.equal(j.judge(obs({ value: 0.001, requests: 1000, errors: 50 }), 0).phase, "Failed");
    assert.equal(j.judge(obs({ value: 0.001 }), 0).phase, "Failed");
  });

  it("never passes without data", () => {
    const j = createThresholdJudge({ failureCondition: "result > 0.05" });
    for (const value of [null, Number.NaN]) {
      const v = j.judge(obs({ value }), 0);
      assert.equal(v.phase, "Inconclusive");
      assert.equal(v.value, null);
      assert.match(v.message, /no canary value/);
    }
  });

  it("is inconclusive when a condition needs the stable value and there is none", () => {
    const j = createThresholdJudge({ failureCondition: "result > stable * 1.5" });
    const v = j.judge(obs({ value: 3 }), 0);
    assert.equal(v.phase, "Inconclusive");
    assert.match(
      v.message,
      /no stable value, so failureCondition "result > stable \* 1\.5" could not be evaluated/,
    );
    // A condition that handles the missing stable itself is evaluated.
    const guarded = createThresholdJudge({
      failureCondition: "stable != null && result > stable * 1.5",
    });
    assert.equal(guarded.judge(obs({ value: 3 }), 0).phase, "Successful");
  });

  it("reports an evaluation error as Error with CEL's message", () => {
    const j = createThresholdJudge({ failureCondition: "result > stable + 2" });
    const v = j.judge(obs({ value: 3 }, { value: 1 }), 0);
    assert.equal(v.phase, "Error");
    assert.match(
      v.message,
      /failureCondition "result > stable \+ 2" failed: no such overload: dyn<double> \+ int/,
    );
    const notBool = createThresholdJudge({ successCondition: "stable" });
    const w = notBool.judge(obs({ value: 3 }, { value: 1 }), 0);
    assert.equal(w.phase, "Error");
    assert.match(w.message, /evaluated to 1, not true or false/);
  });
});
