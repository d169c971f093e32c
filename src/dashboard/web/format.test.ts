import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  eventName,
  formatAgo,
  formatClock,
  formatCountdown,
  formatDateTime,
  formatDuration,
  formatErrorRate,
  formatMs,
  formatNumber,
  formatRps,
  formatWeight,
  formatWhen,
  NO_DATA,
} from "./format.js";

describe("formatting", () => {
  before(() => {
    process.env.TZ = "UTC";
  });

  it("numbers: grouped, trailing zeros dropped, a real minus sign", () => {
    assert.equal(formatNumber(1234567.891), "1,234,567.89");
    assert.equal(formatNumber(12.5, 2), "12.5");
    assert.equal(formatNumber(3, 2), "3");
    assert.equal(formatNumber(-0.25), "−0.25");
    assert.equal(formatNumber(Number.POSITIVE_INFINITY), "∞");
    assert.equal(formatNumber(Number.NaN), NO_DATA);
  });

  it("weights and error rates; no data is a dash, never 0", () => {
    assert.equal(formatWeight(20), "20%");
    assert.equal(formatWeight(12.25), "12.25%");
    assert.equal(formatErrorRate(null), NO_DATA);
    assert.equal(formatErrorRate(0), "0%");
    assert.equal(formatErrorRate(0.00005), "<0.01%");
    assert.equal(formatErrorRate(0.0042), "0.42%");
    assert.equal(formatErrorRate(0.123), "12.3%");
    assert.equal(formatErrorRate(1), "100%");
  });

  it("latencies and rates", () => {
    assert.equal(formatMs(null), NO_DATA);
    assert.equal(formatMs(0.42), "0.4 ms");
    assert.equal(formatMs(42.4), "42 ms");
    assert.equal(formatMs(1250), "1.25 s");
    assert.equal(formatRps(undefined), NO_DATA);
    assert.equal(formatRps(3.456), "3.46/s");
    assert.equal(formatRps(1234.56), "1,234.6/s");
  });

  it("durations in at most two units, countdowns as a clock that rounds up", () => {
    assert.equal(formatDuration(0), "0s");
    assert.equal(formatDuration(450), "450ms");
    assert.equal(formatDuration(45_000), "45s");
    assert.equal(formatDuration(125_000), "2m 5s");
    assert.equal(formatDuration(120_000), "2m");
    assert.equal(formatDuration(5_400_000), "1h 30m");
    assert.equal(
      formatDuration(3_600_000 + 5_000),
      "1h",
      "seconds under an hour's minutes are dropped",
    );
    assert.equal(formatDuration(-5), "0s");
    assert.equal(formatCountdown(9_001), "0:10");
    assert.equal(formatCountdown(9_000), "0:09");
    assert.equal(formatCountdown(245_000), "4:05");
    assert.equal(formatCountdown(3_723_000), "1:02:03");
    assert.equal(formatCountdown(-100), "0:00");
  });

  it("times in the browser's zone, with the date only when it is not today", () => {
    const at = Date.UTC(2025, 2, 1, 14, 3, 22);
    assert.equal(formatClock(at), "14:03:22");
    assert.equal(formatDateTime(at), "2025-03-01 14:03:22");
    assert.equal(formatWhen(at, at + 3_600_000), "14:03:22");
    assert.equal(formatWhen(at, at + 86_400_000), "2025-03-01 14:03:22");
    assert.equal(formatAgo(2_000), "just now");
    assert.equal(formatAgo(42_000), "42s ago");
    assert.equal(formatAgo(3 * 3_600_000), "3h ago");
    assert.equal(formatAgo(4 * 86_400_000), "4d ago");
  });

  it("event types in words, unknown ones tidied", () => {
    assert.equal(eventName("weight.set"), "Weight set");
    assert.equal(eventName("gate.waiting"), "Waiting at gate");
    assert.equal(eventName("analysis.restarted"), "Analysis restarted");
  });
});
