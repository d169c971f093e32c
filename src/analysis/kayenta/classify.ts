/**
 * Kayenta's NetflixACAJudge classification of one metric: the experiment (canary) series
 * against the control (baseline) series → Pass, High, Low, Nodata, NodataFailMetric or Error.
 * The steps, in the judge's order:
 *
 * 1. NaNs removed or replaced by 0 (`nanStrategy`); then, with `outliers.strategy: remove`,
 *    values outside the IQR fences (factor `outliers.factor`, widened to p1/p99) dropped, each
 *    side on its own.
 * 2. A side left empty: with `remove`, Nodata (critical if the metric is), or NodataFailMetric
 *    when `mustHaveData` is set on a non-critical metric; with `replace`, Pass (Kayenta treats
 *    a metric that never reported as all zeros).
 * 3. Identical sorted series, or a single distinct value over both: Pass.
 * 4. Both sides constant: Gaussian noise with sd 1e-5 × value added to each (seeded, so the
 *    same input always gets the same answer).
 * 5. Mann-Whitney at `confidence` (Kayenta: 0.98); tolerance ±0.25·|HL|. High when the
 *    direction allows increases, the CI's lower end is above +tolerance and the effect size
 *    (NaN counts as met) is ≥ allowedIncrease; Low mirrors it. Otherwise Pass.
 * 6. Critical metric: High with effect ≥ criticalIncrease (or Low with ≤ criticalDecrease),
 *    Nodata or Error marks the result critical (the scorer then zeroes the canary's score).
 *    A NaN effect size meets the critical gate too (Kayenta's code only states the ≥ test;
 *    a critical error count rising from 0 should not escape because its ratio is undefined).
 *
 * Non-finite values other than NaN (±Infinity) are an Error, never silently dropped.
 *
 * @module
 */

import type { JudgeConfig } from "../../spec/analysis.js";
import { cles, MannWhitneyError, type MannWhitneyResult, mannWhitney } from "./mann-whitney.js";
import {
  addNoise,
  gaussian,
  handleNaNs,
  mulberry32,
  percentile,
  removeOutliers,
  sortNumbers,
} from "./preprocess.js";

/** The `mannWhitney` branch of a judge in the spec (defaults applied). */
export type MannWhitneyConfig = Extract<JudgeConfig, { mannWhitney: unknown }>["mannWhitney"];

export type MetricLabel = "Pass" | "High" | "Low" | "Nodata" | "NodataFailMetric" | "Error";

/** Which branch of the classification decided. */
export type ClassificationCode =
  | "NO_DATA"
  | "MISSING_TREATED_AS_ZERO"
  | "IDENTICAL"
  | "SINGLE_VALUE"
  | "COMPARED"
  | "TOO_FEW_POINTS"
  | "NOT_FINITE"
  | "FAILED";

export interface SideSummary {
  /** Points given. */
  raw: number;
  /** NaNs removed or replaced. */
  nans: number;
  /** Points dropped as outliers. */
  outliers: number;
  /** Points compared. */
  n: number;
  mean: number | null;
  median: number | null;
}

export interface MetricClassification {
  label: MetricLabel;
  /** A critical failure: the scorer zeroes the whole score. */
  critical: boolean;
  code: ClassificationCode;
  /** One sentence: why this label. */
  reason: string;
  direction: MannWhitneyConfig["direction"];
  /** The effect size (Kayenta's `resultMetadata.ratio`): mean ratio or CLES; null when undefined (a zero mean) or not computed. */
  ratio: number | null;
  measure: MannWhitneyConfig["effectSize"]["measure"];
  /** The Mann-Whitney result and the ±tolerance band, when the test ran. */
  test?: MannWhitneyResult & { tolerance: number };
  /** Gaussian noise was added to break ties on constant series. */
  noise: boolean;
  experiment: SideSummary;
  control: SideSummary;
}

export interface ClassifyOptions {
  /** PRNG seed for the tie-breaking noise (default fixed, so results are reproducible). */
  seed?: number;
  /** Fraction of |HL| that still counts as no change (Kayenta: 0.25). */
  tolerance?: number;
}

const DEFAULT_SEED = 0x61766961; // "avia"

/** Effect-size gate defaults: no extra condition (1 for the mean ratio, 0.5 for CLES). */
export function effectSizeThresholds(effect: MannWhitneyConfig["effectSize"]): {
  allowedIncrease: number;
  allowedDecrease: number;
  criticalIncrease: number;
  criticalDecrease: number;
} {
  const neutral = effect.measure === "cles" ? 0.5 : 1;
  return {
    allowedIncrease: effect.allowedIncrease ?? neutral,
    allowedDecrease: effect.allowedDecrease ?? neutral,
    criticalIncrease: effect.criticalIncrease ?? neutral,
    criticalDecrease: effect.criticalDecrease ?? neutral,
  };
}

function mean(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** mean(experiment)/mean(control); NaN when either mean is 0. */
export function meanRatio(experiment: readonly number[], control: readonly number[]): number {
  const e = mean(experiment);
  const c = mean(control);
  if (e === 0 || c === 0) return Number.NaN;
  return e / c;
}

function summary(
  raw: number,
  nans: number,
  outliers: number,
  values: readonly number[],
): SideSummary {
  if (values.length === 0) return { raw, nans, outliers, n: 0, mean: null, median: null };
  return {
    raw,
    nans,
    outliers,
    n: values.length,
    mean: mean(values),
    median: percentile(sortNumbers(values), 50),
  };
}

function distinctCount(values: readonly number[], limit: number): number {
  const seen = new Set<number>();
  for (const v of values) {
    seen.add(v);
    if (seen.size > limit) break;
  }
  return seen.size;
}

function sameSorted(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  const sa = sortNumbers(a);
  const sb = sortNumbers(b);
  return sa.every((v, i) => v === sb[i]);
}

/** Numbers for sentences: 4 significant digits, no exponent for ordinary magnitudes. */
export function fmt(v: number | null | undefined, signed = false): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "n/a";
  if (!Number.isFinite(v)) return v > 0 ? "+∞" : "−∞";
  const abs = Math.abs(v);
  let s: string;
  if (abs === 0) s = "0";
  else if (abs >= 1e-3 && abs < 1e6) s = String(Number(v.toPrecision(4)));
  else s = v.toPrecision(3);
  return signed && v >= 0 ? `+${s}` : s;
}

/**
 * Classifies the experiment (canary) series against the control (baseline) series.
 * Never throws: a failure of the statistic is an Error label with the reason.
 */
export function classifyMetric(
  experimentRaw: readonly number[],
  controlRaw: readonly number[],
  config: MannWhitneyConfig,
  options: ClassifyOptions = {},
): MetricClassification {
  const tolerance = options.tolerance ?? 0.25;
  const direction = config.direction;
  const measure = config.effectSize.measure;
  const neutral = measure === "cles" ? 0.5 : 1;
  const base = { direction, measure, noise: false };

  const infinite = [...experimentRaw, ...controlRaw].filter(
    (v) => v === Infinity || v === -Infinity,
  ).length;
  const e1 = handleNaNs(experimentRaw, config.nanStrategy);
  const c1 = handleNaNs(controlRaw, config.nanStrategy);
  if (infinite > 0) {
    return {
      ...base,
      label: "Error",
      critical: config.critical,
      code: "NOT_FINITE",
      reason: `${infinite} infinite value(s) in the series; the comparison needs finite numbers`,
      ratio: null,
      experiment: summary(experimentRaw.length, e1.nans, 0, []),
      control: summary(controlRaw.length, c1.nans, 0, []),
    };
  }
  const removeOut = config.outliers.strategy === "remove";
  const experiment = removeOut ? removeOutliers(e1.values, config.outliers.factor) : e1.values;
  const control = removeOut ? removeOutliers(c1.values, config.outliers.factor) : c1.values;
  const sides = {
    experiment: summary(
      experimentRaw.length,
      e1.nans,
      e1.values.length - experiment.length,
      experiment,
    ),
    control: summary(controlRaw.length, c1.nans, c1.values.length - control.length, control),
  };

  // 1. No data.
  if (experiment.length === 0 || control.length === 0) {
    const which =
      experiment.length === 0 && control.length === 0
        ? "canary and baseline"
        : experiment.length === 0
          ? "canary"
          : "baseline";
    if (config.nanStrategy === "replace") {
      return {
        ...base,
        ...sides,
        label: "Pass",
        critical: false,
        code: "MISSING_TREATED_AS_ZERO",
        reason: `no ${which} data; nanStrategy replace counts a metric that never reported as zero`,
        ratio: neutral,
      };
    }
    const failMetric = config.mustHaveData && !config.critical;
    return {
      ...base,
      ...sides,
      label: failMetric ? "NodataFailMetric" : "Nodata",
      critical: !failMetric && config.critical,
      code: "NO_DATA",
      reason: `no ${which} data${failMetric ? " and the metric must have data" : ""}`,
      ratio: null,
    };
  }

  // 2. Nothing to compare.
  if (sameSorted(experiment, control)) {
    return {
      ...base,
      ...sides,
      label: "Pass",
      critical: false,
      code: "IDENTICAL",
      reason: "canary and baseline series are identical",
      ratio: neutral,
    };
  }
  if (distinctCount([...experiment, ...control], 1) === 1) {
    return {
      ...base,
      ...sides,
      label: "Pass",
      critical: false,
      code: "SINGLE_VALUE",
      reason: "every value of both series is the same",
      ratio: neutral,
    };
  }

  // 3. Constant sides: break the ties with tiny noise.
  let x = experiment;
  let y = control;
  const noise = distinctCount(x, 1) === 1 && distinctCount(y, 1) === 1;
  if (noise) {
    const normal = gaussian(mulberry32(options.seed ?? DEFAULT_SEED));
    x = addNoise(x, normal);
    y = addNoise(y, normal);
  }

  // 4. The test.
  let test: MannWhitneyResult;
  try {
    test = mannWhitney(x, y, config.confidence);
  } catch (err) {
    const tooFew = err instanceof MannWhitneyError && err.code === "ALL_TIED";
    return {
      ...base,
      ...sides,
      noise,
      label: "Error",
      critical: config.critical,
      code: tooFew ? "TOO_FEW_POINTS" : "FAILED",
      reason: `Mann-Whitney failed: ${(err as Error).message}`,
      ratio: null,
    };
  }
  const effect = measure === "cles" ? cles(x, y) : meanRatio(x, y);
  const ratio = Number.isNaN(effect) ? null : effect;
  const gates = effectSizeThresholds(config.effectSize);
  const band = tolerance * Math.abs(test.estimate);
  const up = direction === "increase" || direction === "either";
  const down = direction === "decrease" || direction === "either";
  const above = test.lower > band;
  const below = test.upper < -band;
  const nan = Number.isNaN(effect);
  const high = up && above && (nan || effect >= gates.allowedIncrease);
  const low = down && below && (nan || effect <= gates.allowedDecrease);
  const ci = `${Math.round(test.confidence * 100)} % CI [${fmt(test.lower, true)}, ${fmt(test.upper, true)}]`;
  const effectText = nan ? `${measure} undefined (a zero mean)` : `${measure} ${fmt(effect)}`;

  let label: MetricLabel = "Pass";
  let reason: string;
  let critical = false;
  if (high) {
    label = "High";
    critical = config.critical && (nan || effect >= gates.criticalIncrease);
    reason = `${ci} above tolerance ±${fmt(band)}, ${effectText}`;
  } else if (low) {
    label = "Low";
    critical = config.critical && (nan || effect <= gates.criticalDecrease);
    reason = `${ci} below tolerance ±${fmt(band)}, ${effectText}`;
  } else if (above && !up) {
    reason = `${ci} above tolerance ±${fmt(band)}, but only a ${direction} fails`;
  } else if (below && !down) {
    reason = `${ci} below tolerance ±${fmt(band)}, but only an ${direction} fails`;
  } else if (above) {
    reason = `${ci} above tolerance ±${fmt(band)}, but ${effectText} < allowedIncrease ${fmt(gates.allowedIncrease)}`;
  } else if (below) {
    reason = `${ci} below tolerance ±${fmt(band)}, but ${effectText} > allowedDecrease ${fmt(gates.allowedDecrease)}`;
  } else {
    reason = `${ci} not clear of tolerance ±${fmt(band)}`;
  }
  if (critical) reason += " (critical)";
  return {
    ...base,
    ...sides,
    noise,
    label,
    critical,
    code: "COMPARED",
    reason,
    ratio,
    test: { ...test, tolerance: band },
  };
}
