/**
 * Analysis templates in the spec: named sets of metrics, each with where its numbers come from
 * (a provider) and how they are judged (a judge). Field names and defaults follow Argo
 * Rollouts' AnalysisTemplate where the idea is the same.
 *
 * @module
 */

import { z } from "zod";
import { durationWithin } from "./schema-parts.js";

/** A false-rollback rate: a sequential metric's α or a template's (below ½, or it promises nothing). */
const FalseRollbackRate = z.number().gt(0).lt(0.5);

/** One HTTP call to a metrics backend: minutes at most, or the measurement is late anyway. */
const REQUEST_TIMEOUT = durationWithin("5m");

const Url = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return u.protocol === "http:" || u.protocol === "https:";
    } catch {
      return false;
    }
  },
  { message: "expected an http(s) URL" },
);

const Headers = z.record(z.string().min(1), z.string());

/** Counts mode of the prometheus provider: the numerator and denominator of a rate, per version. */
const Counts = z
  .strictObject({
    events: z
      .string()
      .min(1)
      .describe(
        'PromQL counting the events in the window for `{{version}}` (errors, slow requests, orders), e.g. `sum(increase(http_requests_total{version="{{version}}",code=~"5.."}[{{window}}]))`. No series means none happened (0).',
      ),
    requests: z
      .string()
      .min(1)
      .describe(
        "PromQL counting what the events are out of in the window for `{{version}}` (requests, sessions).",
      ),
  })
  .describe("The two queries of counts mode.");

export const BuiltinSignal = z
  .enum(["errorRate", "latencyP50", "latencyP95", "latencyP99", "requestRate"])
  .describe(
    "The router's own per-version signals: errorRate (share of failed requests), latencyP50/P95/P99 (ms), requestRate (requests per second).",
  );
export type BuiltinSignal = z.infer<typeof BuiltinSignal>;

export const ProviderConfig = z
  .union(
    [
      z.strictObject({
        builtin: z
          .strictObject({ signal: BuiltinSignal })
          .describe("The embedded router's metrics, canary and stable over the same window."),
      }),
      z.strictObject({
        prometheus: z
          .strictObject({
            address: Url.describe("Prometheus's base URL, e.g. http://127.0.0.1:9090."),
            query: z
              .string()
              .min(1)
              .optional()
              .describe(
                "PromQL measuring the canary. `{{service}}`, `{{canaryVersion}}`, `{{stableVersion}}`, `{{window}}` (the window as a PromQL duration) and `{{args.NAME}}` are replaced before it is sent. Exactly one of `query` and `counts`.",
              ),
            counts: Counts.optional().describe(
              "Counts mode: a numerator and a denominator query, run for each version (`{{version}}` is the canary's, then the stable's), so the sequential judge tests their rate with its guarantee. Exactly one of `query` and `counts`.",
            ),
            stableQuery: z
              .string()
              .min(1)
              .optional()
              .describe(
                "PromQL measuring the stable baseline (same variables); without it there is no baseline.",
              ),
            step: durationWithin("24h")
              .optional()
              .describe(
                "With a step, a range query over the window gives a series per arm; without, an instant query at the window's end.",
              ),
            headers: Headers.default({}).describe(
              "Extra request headers (e.g. Authorization for a hosted Prometheus).",
            ),
            timeout: REQUEST_TIMEOUT.default("10s").describe(
              "A query that takes longer is an Error.",
            ),
          })
          .refine((p) => (p.query === undefined) !== (p.counts === undefined), {
            message:
              "give exactly one of query (a value per version) and counts (events and requests)",
            path: ["query"],
          })
          .refine(
            (p) => p.counts === undefined || (p.stableQuery === undefined && p.step === undefined),
            {
              message:
                "counts mode runs its two queries for both versions: stableQuery and step do not apply",
              path: ["counts"],
            },
          )
          .describe(
            "PromQL over Prometheus's HTTP API. `query` measures the canary and `stableQuery` the baseline; or `counts` gives events and requests per version.",
          ),
      }),
      z.strictObject({
        web: z
          .strictObject({
            url: Url.describe(
              "The document measuring the canary (GET); the same `{{...}}` variables as a Prometheus query, URL-encoded.",
            ),
            jsonPath: z
              .string()
              .startsWith("$")
              .optional()
              .describe(
                "Where the number is in the document, e.g. `$.data.value`. Exactly one of `jsonPath` and `counts`.",
              ),
            counts: z
              .strictObject({
                events: z
                  .string()
                  .startsWith("$")
                  .describe(
                    "Where the events (errors, orders...) of the window are, e.g. `$.orders`.",
                  ),
                requests: z
                  .string()
                  .startsWith("$")
                  .describe(
                    "Where what they are out of (requests, sessions) is, e.g. `$.sessions`.",
                  ),
              })
              .optional()
              .describe(
                "Counts mode: each version's document gives its events and requests for the window (`{{from}}` and `{{to}}` in the URLs say which), so the sequential judge tests their rate. Needs `stableUrl`.",
              ),
            stableUrl: Url.optional().describe(
              "The document for the stable baseline; without it there is no baseline.",
            ),
            headers: Headers.default({}).describe("Extra request headers."),
            timeout: REQUEST_TIMEOUT.default("10s").describe(
              "A request that takes longer is an Error.",
            ),
          })
          .refine((w) => (w.jsonPath === undefined) !== (w.counts === undefined), {
            message: "give exactly one of jsonPath (a value) and counts (events and requests)",
            path: ["jsonPath"],
          })
          .refine((w) => w.counts === undefined || w.stableUrl !== undefined, {
            message:
              "counts mode compares the versions: give stableUrl, the stable version's document",
            path: ["stableUrl"],
          })
          .describe(
            "GET a JSON document and pick a number by a JSON path (`$.data.value`), or in counts mode events and requests per version.",
          ),
      }),
      z.strictObject({
        flagEvent: z
          .strictObject({
            event: z
              .string()
              .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, {
                message: "expected an event name (1-64 letters, digits, . _ : -)",
              })
              .refine((e) => e !== "error" && e !== "latency", {
                message:
                  "error and latency are the builtin provider's (errorRate, latencyP99 of flag:<key>); name a business event",
              })
              .describe(
                "The business event applications report with `track()` (e.g. `checkout-completed`).",
              ),
          })
          .describe(
            "Flags only: a business event per exposure of each variant, as applications reported them to the tracking endpoint, in counts form (events: the event's count, requests: exposures). Judged by the sequential judge; `direction: decrease` fails a variant with fewer.",
          ),
      }),
    ],
    { error: "a provider is exactly one of builtin, prometheus, web or flagEvent" },
  )
  .describe(
    "Where a metric's numbers come from: exactly one of builtin, prometheus, web or flagEvent (flags only).",
  );
export type ProviderConfig = z.infer<typeof ProviderConfig>;

const Direction = z.enum(["increase", "decrease", "either"]);

export const JudgeConfig = z
  .union(
    [
      z.strictObject({
        threshold: z
          .strictObject({
            successCondition: z
              .string()
              .min(1)
              .optional()
              .describe("CEL; true makes the measurement Successful, e.g. `result < 0.01`."),
            failureCondition: z
              .string()
              .min(1)
              .optional()
              .describe(
                "CEL; true makes the measurement Failed (checked first), e.g. `result > stable * 1.5`.",
              ),
          })
          .refine((t) => t.successCondition !== undefined || t.failureCondition !== undefined, {
            message: "a threshold judge needs a successCondition, a failureCondition or both",
          })
          .describe(
            "Conditions over the measured values in CEL (`result` is the canary's value, `stable` the baseline's or null, `requests` and `errors` the canary's counts in the window). Neither matching is Inconclusive.",
          ),
      }),
      z.strictObject({
        relative: z
          .strictObject({
            maxIncrease: z
              .number()
              .min(0)
              .optional()
              .describe(
                "Canary − stable may be at most this, in the value's unit; for rates in absolute points (0.02 = 2 points).",
              ),
            maxRatio: z
              .number()
              .min(1)
              .optional()
              .describe("Canary / stable may be at most this (1.5 = +50 %); meant for latencies."),
            minSamples: z
              .int()
              .min(1)
              .default(200)
              .describe("Fewer canary requests than this decide nothing (Inconclusive)."),
          })
          .refine((r) => r.maxIncrease !== undefined || r.maxRatio !== undefined, {
            message: "a relative judge needs maxIncrease, maxRatio or both",
          })
          .describe(
            "Canary against stable on the same window. For rates, `maxIncrease` in absolute points (0.02 = 2 points); for latencies, `maxRatio` (1.5 = +50 %). Fewer than `minSamples` canary requests decide nothing (Inconclusive).",
          ),
      }),
      z.strictObject({
        mannWhitney: z
          .strictObject({
            direction: Direction.default("increase").describe(
              "Which change fails the canary: a higher value, a lower one, or either.",
            ),
            confidence: z
              .number()
              .gt(0.5)
              .lt(1)
              .default(0.98)
              .describe(
                "Confidence of the Mann-Whitney interval on the shift. Kayenta hard-codes 0.98.",
              ),
            nanStrategy: z
              .enum(["remove", "replace"])
              .default("remove")
              .describe(
                "Missing points: drop them, or count them as 0 (for counters that report nothing when zero).",
              ),
            outliers: z
              .strictObject({
                strategy: z
                  .enum(["keep", "remove"])
                  .default("keep")
                  .describe("`remove` drops points outside the IQR fences."),
                factor: z
                  .number()
                  .positive()
                  .default(3)
                  .describe("The fences are Q1 − factor × IQR and Q3 + factor × IQR."),
              })
              .prefault({})
              .describe("Outlier removal before the test, as Kayenta's IQR detector."),
            effectSize: z
              .strictObject({
                measure: z
                  .enum(["meanRatio", "cles"])
                  .default("meanRatio")
                  .describe(
                    "meanRatio: mean(canary) / mean(stable); cles: the chance a canary point exceeds a stable one.",
                  ),
                allowedIncrease: z
                  .number()
                  .optional()
                  .describe(
                    "A High label also needs the effect size to reach this; default 1 for meanRatio, 0.5 for cles (no gate).",
                  ),
                allowedDecrease: z
                  .number()
                  .optional()
                  .describe(
                    "A Low label also needs the effect size to be at most this; same default.",
                  ),
                criticalIncrease: z
                  .number()
                  .optional()
                  .describe(
                    "The gate a critical metric's High must pass to be marked critical; same default.",
                  ),
                criticalDecrease: z
                  .number()
                  .optional()
                  .describe(
                    "The gate a critical metric's Low must pass to be marked critical; same default.",
                  ),
              })
              .prefault({})
              .describe(
                "Kayenta's effect-size gate: a significant change must also be this large.",
              ),
            critical: z
              .boolean()
              .default(false)
              .describe(
                "Marks a High, Low, missing data or error as critical in the evidence, as Kayenta's scorer would; the measurement's phase is the same (High or Low fails, no data is Inconclusive).",
              ),
            mustHaveData: z
              .boolean()
              .default(false)
              .describe(
                "No data is Failed (NodataFailMetric) instead of Inconclusive; ignored for a critical metric, as in Kayenta.",
              ),
          })
          .describe(
            "Kayenta's NetflixACAJudge classification of the canary series against the baseline series.",
          ),
      }),
      z.strictObject({
        sequential: z
          .strictObject({
            alpha: FalseRollbackRate.optional().describe(
              "The false-rollback rate it guarantees on a canary no worse than stable (+ margin). Default: what the metrics with their own alpha leave of the template's alpha, split equally across the others that can fail the run.",
            ),
            margin: z
              .number()
              .min(0)
              .optional()
              .describe(
                "Relative margin tolerated before a difference counts (0.1 = canary may be 10 % worse). Default 0.1; 0 when `maxIncrease` or `maxRatio` states the margin instead.",
              ),
            maxIncrease: z
              .number()
              .min(0)
              .lt(1)
              .optional()
              .describe(
                "The seeds' rule \"errors up by more than 2 points\" as an anytime-valid test: fails when the canary's rate exceeds stable's by more than this many absolute points (0.02 = 2 points), with the same false-rollback guarantee, instead of comparing raw rates at every check. Errors and counts-mode metrics, direction increase.",
              ),
            maxRatio: z
              .number()
              .min(1)
              .optional()
              .describe(
                "The seeds' rule \"latency +50 %\" as an anytime-valid test: fails when the canary's `quantile` (p99) exceeds stable's × this (1.5 = +50 %). Counted as the canary's requests beyond this × stable's quantile against stable's beyond its quantile. Latency signals only.",
              ),
            quantile: z
              .number()
              .min(0.5)
              .max(0.999)
              .default(0.99)
              .describe("The latency quantile `maxRatio` compares (0.99 = p99)."),
            direction: z
              .enum(["increase", "decrease"])
              .default("increase")
              .describe(
                "Which change fails the canary: `increase` (errors, slow requests: a higher rate is worse) or `decrease` (a business rate that must not fall, such as orders per session; the canary fails when its rate is below stable × (1 − margin)).",
              ),
            absoluteMargin: z
              .number()
              .min(0)
              .max(1)
              .default(0.002)
              .describe(
                "Rare events: the canary also passes early when an anytime-valid upper bound on its own event share is within the stable share × (1 + margin) plus these absolute points (0.002 = 0.2 points) — with almost no errors on either side a ratio cannot be shown.",
              ),
            minBakeTime: durationWithin("30d")
              .default("5m")
              .describe("Before this, no early pass (failures are still caught at once)."),
            slowThresholdMs: z
              .number()
              .positive()
              .optional()
              .describe(
                "Latency signals: a request is slow above this (ms); default: the stable p99 seen in the first interval × 1.5 (with `maxRatio`: the stable `quantile` itself), fixed from then on.",
              ),
            warmup: durationWithin("1h")
              .optional()
              .describe(
                "Measurements in this first stretch of the run are shown but not counted, so a canary that is slow while it warms up (caches, JIT, connection pools) is not rolled back for it; it still is if it stays slow. Default 1m for latency signals, 0s otherwise (errors are caught from the first interval).",
              ),
            dispersion: z
              .enum(["estimate", "binomial"])
              .default("estimate")
              .describe(
                "`estimate`: measure how much more the canary's share of events swings between intervals than chance allows (pods that differ, noisy nodes) and discount the evidence by that factor, keeping the false-rollback guarantee on real fleets. `binomial`: trust the counts as independent requests (faster on perfectly uniform fleets, many false rollbacks on real ones; see docs/analysis.md).",
              ),
            restartEvery: durationWithin("24h")
              .default("5m")
              .describe(
                "Also start a fresh e-process every this long and mix them (weights summing to 1, so α holds), so a regression that starts late in a long run is caught about as fast as one from the start; 0s turns it off.",
              ),
          })
          .refine((q) => !(q.maxIncrease !== undefined && q.maxRatio !== undefined), {
            message:
              "maxIncrease (a rate's points) and maxRatio (a latency quantile's ratio) are for different signals; give one",
            path: ["maxRatio"],
          })
          .refine((q) => !(q.maxIncrease !== undefined && q.direction === "decrease"), {
            message:
              "maxIncrease bounds an increase; with direction: decrease use margin (the share the rate may fall)",
            path: ["maxIncrease"],
          })
          .refine((q) => q.direction !== "decrease" || q.margin === undefined || q.margin < 1, {
            message: "with direction: decrease the margin must be below 1 (1 would allow any fall)",
            path: ["margin"],
          })
          .prefault({})
          .describe(
            "Anytime-valid sequential test, checked after every interval without inflating false rollbacks: errors (or slow requests) of canary against stable as a mixture likelihood ratio (an e-process) that spans weight changes. The default judge for builtin signals.",
          ),
      }),
    ],
    { error: "a judge is exactly one of threshold, relative, mannWhitney or sequential" },
  )
  .describe(
    "How a metric's values are judged: exactly one of threshold, relative, mannWhitney or sequential.",
  );
export type JudgeConfig = z.infer<typeof JudgeConfig>;

export const AnalysisMetric = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, {
        message: "expected a metric name (letters, digits, . _ -)",
      })
      .describe("The metric's name, unique in its template (letters, digits, . _ -)."),
    interval: durationWithin("24h", "100ms").default("10s").describe("Time between measurements."),
    count: z
      .int()
      .min(0)
      .default(0)
      .describe(
        "Measurements to take; 0 means until the run is stopped (background) or the judge decides.",
      ),
    initialDelay: durationWithin("30d")
      .default("0s")
      .describe("Wait before the first measurement."),
    failureLimit: z
      .int()
      .min(0)
      .default(0)
      .describe(
        "Failed measurements tolerated; one more fails the metric (Argo's failed > limit).",
      ),
    inconclusiveLimit: z
      .int()
      .min(0)
      .default(0)
      .describe(
        "Inconclusive measurements tolerated before the metric is Inconclusive (a person decides).",
      ),
    consecutiveErrorLimit: z
      .int()
      .min(0)
      .default(4)
      .describe("Errors in a row tolerated before the metric is in Error (provider down)."),
    dryRun: z
      .boolean()
      .default(false)
      .describe(
        "Measured and reported, never able to fail the run (in a scored template: muted, left out of the score).",
      ),
    groups: z
      .array(z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, { message: "expected a group name" }))
      .min(1)
      .optional()
      .describe(
        "Scored templates only: the groups the metric counts in (Kayenta's metric groups). Default: a group of its own, named as the metric.",
      ),
    critical: z
      .boolean()
      .optional()
      .describe(
        "Scored templates only: a verdict other than pass fails the run whatever the score (Kayenta's critical metric).",
      ),
    provider: ProviderConfig,
    judge: JudgeConfig.optional().describe(
      "Default: sequential for builtin signals; required otherwise.",
    ),
  })
  .describe("One measured quantity: where it comes from, how often, and how it is judged.");
export type AnalysisMetric = z.infer<typeof AnalysisMetric>;

export const AnalysisTemplate = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]*$/, {
        message: "expected a template name (lowercase letters, digits, . _ -)",
      })
      .describe("The name strategies refer to (lowercase letters, digits, . _ -)."),
    args: z
      .array(
        z.strictObject({
          name: z.string().min(1).describe("The argument's name, used as `{{args.NAME}}`."),
          value: z
            .string()
            .optional()
            .describe("Its default; without one, every analysis using the template must give it."),
        }),
      )
      .default([])
      .describe(
        "Arguments the template's queries use as `{{args.NAME}}`; a value here is the default.",
      ),
    alpha: FalseRollbackRate.optional().describe(
      "The family-wise false-rollback rate of the template's sequential metrics that can fail the run (not dryRun), default 0.01: a metric with its own judge.sequential.alpha spends that much of it, the rest is split equally across the others, so a canary no worse than stable is rolled back by any of them with probability ≤ alpha.",
    ),
    scoring: z
      .strictObject({
        pass: z
          .number()
          .min(0)
          .max(100)
          .default(95)
          .describe("A score at or above this passes (once every metric has finished)."),
        marginal: z
          .number()
          .min(0)
          .max(100)
          .default(75)
          .describe(
            "A score at or below this fails the run at once; between marginal and pass the run ends Inconclusive (a person decides).",
          ),
        groupWeights: z
          .record(z.string(), z.number().min(0).max(100))
          .default({})
          .describe(
            "Weight of each metric group, out of 100; groups not listed share what is left equally (Kayenta's classifier.groupWeights).",
          ),
      })
      .refine((s) => s.pass >= s.marginal, {
        message: "pass must be at least marginal",
        path: ["pass"],
      })
      .refine((s) => Object.values(s.groupWeights).reduce((a, w) => a + w, 0) <= 100, {
        message: "the group weights add up to more than 100",
        path: ["groupWeights"],
      })
      .optional()
      .describe(
        "One verdict for the template from a weighted score of its metrics, as Kayenta scores a canary: each metric passes or not, each group scores the share of its metrics that pass, the score is the groups' weighted sum out of 100. Without it, each metric's own verdict counts (the worst decides).",
      ),
    metrics: z.array(AnalysisMetric).min(1).describe("What to measure; at least one metric."),
  })
  .describe("A named set of metrics, each with a provider and a judge.");
export type AnalysisTemplate = z.infer<typeof AnalysisTemplate>;
