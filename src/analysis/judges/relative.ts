/**
 * The relative judge: the canary's value against the stable baseline's over the same cumulative
 * window, with a practical-significance margin (research §5(a)).
 *
 * - `maxIncrease`: canary − stable must not exceed it, in the values' own unit; for rates
 *   (fractions) it is in absolute points, 0.02 = 2 points.
 * - `maxRatio`: canary / stable must not exceed it (1.5 = +50 %); meant for latencies.
 * Both may be set, for either kind; the measurement fails when any set condition is broken.
 * Fewer than `minSamples` canary requests decide nothing (Inconclusive). Without a stable arm it
 * cannot compare, which is an Error.
 *
 * This is a point comparison, checked again at every measurement: it has no error control of its
 * own, only the minimum-sample gate. The sequential judge is the calibrated one.
 *
 * @module
 */

import type { JudgeConfig } from "../../spec/analysis.js";
import type { ArmObservation, Judge, Observation, Verdict } from "../types.js";

export type RelativeConfig = Extract<JudgeConfig, { relative: unknown }>["relative"];

export function createRelativeJudge(config: RelativeConfig, kind: "rate" | "latency"): Judge {
  const { maxIncrease, maxRatio, minSamples } = config;
  if (maxIncrease === undefined && maxRatio === undefined) {
    throw new RangeError("a relative judge needs maxIncrease, maxRatio or both");
  }
  const show = (x: number) => (kind === "rate" ? `${fmt(100 * x)} %` : `${fmt(x)} ms`);
  const showDiff = (x: number) => (kind === "rate" ? `${fmt(100 * x)} points` : `${fmt(x)} ms`);
  const signed = (x: number) => (x >= 0 ? `+${showDiff(x)}` : `−${showDiff(-x)}`);

  function judge(obs: Observation, _now: number): Verdict {
    const requests = countOf(obs.canary);
    // Evidence is built by assignment, not object spreads (which are slow in V8's generic path).
    const base = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
      Object.assign(
        {
          kind,
          maxIncrease: maxIncrease ?? null,
          maxRatio: maxRatio ?? null,
          minSamples,
          canaryRequests: requests ?? null,
        },
        extra,
      );
    if (obs.stable === undefined) {
      return {
        phase: "Error",
        value: null,
        message:
          "the provider gave no stable baseline; the relative judge compares canary with stable, so nothing was judged",
        evidence: base(),
      };
    }
    const canary = armValue(obs.canary, kind);
    const stable = armValue(obs.stable, kind);
    for (const [name, v] of [
      ["canary", canary],
      ["stable", stable],
    ] as const) {
      if (v !== null && !(Number.isFinite(v) && v >= 0)) {
        return {
          phase: "Error",
          value: null,
          message: `the ${name} value is not a number ≥ 0: ${v}`,
          evidence: base(),
        };
      }
    }
    if (requests !== undefined && requests < minSamples) {
      return {
        phase: "Inconclusive",
        value: canary,
        message: `only ${fmt(requests)} canary requests; need ${minSamples}`,
        evidence: base({ canary, stable }),
      };
    }
    if (canary === null) {
      return {
        phase: "Inconclusive",
        value: null,
        message: "no canary data in the window",
        evidence: base({ stable }),
      };
    }
    if (stable === null) {
      return {
        phase: "Inconclusive",
        value: canary,
        message: "no stable data in the window",
        evidence: base({ canary }),
      };
    }

    const increase = canary - stable;
    // 0 / 0 counts as equal; x / 0 as unbounded.
    const ratio = stable > 0 ? canary / stable : canary === 0 ? 1 : Number.POSITIVE_INFINITY;
    const parts: string[] = [];
    const broken: string[] = [];
    if (maxIncrease !== undefined) {
      const ok = increase <= maxIncrease;
      const text = `${signed(increase)} ${ok ? "≤" : ">"} ${showDiff(maxIncrease)} allowed`;
      parts.push(text);
      if (!ok) broken.push(text);
    }
    if (maxRatio !== undefined) {
      const ok = ratio <= maxRatio;
      const text = `×${Number.isFinite(ratio) ? fmt(ratio) : "∞"} ${ok ? "≤" : ">"} ×${fmt(maxRatio)} allowed`;
      parts.push(text);
      if (!ok) broken.push(text);
    }
    const failed = broken.length > 0;
    const head = `canary ${show(canary)} vs stable ${show(stable)}`;
    const unknownN =
      requests === undefined ? " (canary request count unknown: minSamples not checked)" : "";
    return {
      phase: failed ? "Failed" : "Successful",
      value: canary,
      message: `${head}: ${(failed ? broken : parts).join(", ")}${unknownN}`,
      evidence: base(
        requests === undefined
          ? {
              canary,
              stable,
              increase,
              ratio: Number.isFinite(ratio) ? ratio : null,
              samplesUnknown: true,
            }
          : { canary, stable, increase, ratio: Number.isFinite(ratio) ? ratio : null },
      ),
    };
  }

  return {
    type: "relative",
    window: "cumulative",
    slowEdgesMs: [],
    judge,
    state: () => null,
    restore: () => {},
  };
}

/** The canary's request count: counted requests, else the latency sketch's count; undefined when the provider gives neither. */
function countOf(arm: ArmObservation): number | undefined {
  if (arm.requests !== undefined && Number.isFinite(arm.requests)) return arm.requests;
  if (arm.sketch !== undefined) return arm.sketch.count;
  return undefined;
}

/** The arm's value; for rates without a value, errors / requests when both are counted. */
function armValue(arm: ArmObservation, kind: "rate" | "latency"): number | null {
  if (arm.value !== null) return arm.value;
  if (
    kind === "rate" &&
    arm.errors !== undefined &&
    arm.requests !== undefined &&
    arm.requests > 0
  ) {
    return arm.errors / arm.requests;
  }
  return null;
}

/** Up to three significant digits, plainly written. */
function fmt(x: number): string {
  if (x === 0) return "0";
  if (Math.abs(x) >= 1000) return String(Math.round(x));
  return String(Number(x.toPrecision(3)));
}
