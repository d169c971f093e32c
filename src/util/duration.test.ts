import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatDuration, parseDuration } from "./duration.js";

describe("durations", () => {
  it("parses single and combined units", () => {
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("10s"), 10_000);
    assert.equal(parseDuration("2m"), 120_000);
    assert.equal(parseDuration("1h30m"), 5_400_000);
    assert.equal(parseDuration("1.5s"), 1_500);
    assert.equal(parseDuration("1d"), 86_400_000);
  });

  it("refuses anything else", () => {
    for (const bad of ["", "10", "s", "10 s", "10x", "-1s", "1s ", "1m-1s"])
      assert.equal(parseDuration(bad), undefined, bad);
  });

  it("formats back to the shortest readable form", () => {
    assert.equal(formatDuration(90_000), "1m30s");
    assert.equal(formatDuration(250), "250ms");
    assert.equal(formatDuration(3_600_000), "1h");
    assert.equal(formatDuration(0), "0ms");
  });
});
