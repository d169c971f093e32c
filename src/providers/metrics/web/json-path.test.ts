import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { evaluateJsonPath, parseJsonPath } from "./json-path.js";

describe("JSON path subset", () => {
  const doc = {
    data: { value: 0.5, "odd key": 3, list: [{ v: 1 }, { v: 2 }, { v: 3 }] },
    series: [
      [1, "a"],
      [2, "b"],
    ],
  };
  const pick = (path: string) => evaluateJsonPath(parseJsonPath(path), doc);

  it("follows names, quoted names and indexes", () => {
    assert.deepEqual(pick("$.data.value"), { found: true, value: 0.5 });
    assert.deepEqual(pick("$['data'][\"odd key\"]"), { found: true, value: 3 });
    assert.deepEqual(pick("$.data.list[1].v"), { found: true, value: 2 });
    assert.deepEqual(pick("$.data.list[-1].v"), { found: true, value: 3 });
    assert.deepEqual(pick("$.series[-1][0]"), { found: true, value: 2 });
    assert.deepEqual(pick("$"), { found: true, value: doc });
  });

  it("says where it stopped and why", () => {
    assert.deepEqual(pick("$.data.nope"), {
      found: false,
      at: "$.data",
      reason: "missing-key",
      got: doc.data,
    });
    assert.equal((pick("$.data.list[7]") as { reason: string }).reason, "index-out-of-range");
    assert.equal((pick("$.data.value.x") as { reason: string }).reason, "not-a-container");
    assert.equal((pick("$.data[0]") as { reason: string }).reason, "not-a-container");
  });

  it("rejects what it does not support, naming the position", () => {
    for (const bad of [
      "data.value",
      "$.data[*]",
      "$..value",
      "$.data[?(@.v>1)]",
      "$.list[0:2]",
      "$.",
      "$x",
    ]) {
      assert.throws(() => parseJsonPath(bad), /JSON path/, bad);
    }
    assert.throws(() => parseJsonPath("$.a[*]"), /position 3/);
  });
});
