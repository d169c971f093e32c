/**
 * Builds the judge a metric asks for. Builtin signals default to the sequential judge (errors
 * for errorRate, slow requests for latencies), and so do metrics in counts mode (their events
 * over their requests); other providers must name one (the spec says so).
 *
 * @module
 */

import { inCountsMode } from "../../spec/metric-kind.js";
import { type AnalysisMetric, type BuiltinSignal, JudgeConfig } from "../../spec/schema.js";
import { DEFAULT_TEMPLATE_ALPHA } from "../alpha.js";
import type { Judge } from "../types.js";
import { createMannWhitneyJudge } from "./mann-whitney.js";
import { createRelativeJudge } from "./relative.js";
import { createSequentialJudge } from "./sequential.js";
import { createThresholdJudge } from "./threshold.js";

/** The sequential judge with every default, for builtin signals that name no judge. */
const DEFAULT_JUDGE = JudgeConfig.parse({ sequential: {} });

export function createJudge(metric: AnalysisMetric): Judge {
  const signal: BuiltinSignal | undefined =
    "builtin" in metric.provider ? metric.provider.builtin.signal : undefined;
  const judge = metric.judge ?? DEFAULT_JUDGE;
  if ("sequential" in judge) {
    // The template's share of α is filled in when the run is planned (../alpha.ts); a metric
    // judged outside a template gets the one-metric default.
    const config = { ...judge.sequential, alpha: judge.sequential.alpha ?? DEFAULT_TEMPLATE_ALPHA };
    // Counts mode: the numerator is whatever the metric counts; its name says what in messages.
    if (inCountsMode(metric))
      return createSequentialJudge(config, "events", { label: metric.name });
    return createSequentialJudge(config, signal === "errorRate" ? "errors" : "latency");
  }
  if ("relative" in judge) {
    // Outside the builtin signals, an absolute-points limit says the value is a rate.
    const rate =
      signal === undefined ? judge.relative.maxIncrease !== undefined : signal === "errorRate";
    return createRelativeJudge(judge.relative, rate ? "rate" : "latency");
  }
  if ("mannWhitney" in judge) return createMannWhitneyJudge(judge.mannWhitney);
  return createThresholdJudge(judge.threshold);
}
