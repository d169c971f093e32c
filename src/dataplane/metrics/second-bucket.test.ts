import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { latencyKey, MAX_KEY, MAX_MS, MIN_KEY, MIN_KEYED_MS } from "./latency-sketch.js";
import { SecondBucket } from "./second-bucket.js";

function binTotal(b: SecondBucket): number {
  return b.bins.reduce((a, c) => a + c, 0);
}

describe("SecondBucket", () => {
  it("widens its key array both ways without losing counts", () => {
    const b = new SecondBucket();
    b.reset(7);
    b.add(1, 10);
    b.add(1, 10);
    b.add(1, 5000); // grows upwards
    b.add(1, 0.01); // grows downwards
    b.add(4, 0); // below the keyed range: a zero
    assert.equal(binTotal(b), 4);
    assert.equal(b.zeros, 1);
    assert.equal(b.bins[latencyKey(10) - b.offset], 2);
    assert.equal(b.bins[latencyKey(5000) - b.offset], 1);
    assert.equal(b.bins[latencyKey(0.01) - b.offset], 1);
    assert.equal(b.lowKey, latencyKey(0.01));
    assert.equal(b.highKey, latencyKey(5000));
    assert.deepEqual([...b.counts], [0, 4, 0, 0, 1, 0, 0, 0]);
    assert.equal(b.minMs, 0);
    assert.equal(b.maxMs, 5000);
  });

  it("never grows past the clamped key range", () => {
    const b = new SecondBucket();
    b.reset(1);
    b.add(1, MIN_KEYED_MS);
    b.add(1, MAX_MS);
    assert.equal(b.offset, MIN_KEY);
    assert.equal(b.bins.length, MAX_KEY - MIN_KEY + 1);
    assert.equal(binTotal(b), 2);
  });

  it("reset clears every count but keeps the array for reuse", () => {
    const b = new SecondBucket();
    b.reset(1);
    for (const ms of [0.5, 3, 80, 900, 4000]) b.add(2, ms);
    const bins = b.bins;
    b.reset(2);
    assert.equal(b.second, 2);
    assert.equal(b.bins, bins);
    assert.equal(binTotal(b), 0);
    assert.deepEqual([...b.counts], [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(b.sumMs, 0);
    assert.equal(b.zeros, 0);
    assert.ok(b.lowKey > b.highKey);
    b.add(0, 80);
    assert.equal(b.bins, bins, "a key inside the old span needs no new array");
    assert.equal(binTotal(b), 1);
  });
});
