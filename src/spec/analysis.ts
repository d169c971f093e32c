/**
 * Analysis templates in the spec: named sets of metrics, each with where its numbers come from
 * (a provider) and how they are judged (a judge). Field names and defaults follow Argo
 * Rollouts' AnalysisTemplate where the idea is the same.
 *
 * @module
 */

import { z } from "zod";
import { Duration } from "./schema-parts.js";

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

/** The router's own per-version signals. */
export const BuiltinSignal = z.enum([
  "errorRate",
  "latencyP50",
  "latencyP95",
  "latencyP99",
  "requestRate",
]);
export type BuiltinSignal = z.infer<typeof BuiltinSignal>;

export const ProviderConfig = z.union(
  [
    /** The embedded router's metrics, canary and stable over the same window. */
    z.strictObject({ builtin: z.strictObject({ signal: BuiltinSignal }) }),
    /** PromQL over Prometheus's HTTP API. `query` measures the canary; `stableQuery` the baseline. */
    z.strictObject({
      prometheus: z.strictObject({
        address: Url,
        query: z.string().min(1),
        stableQuery: z.string().min(1).optional(),
        /** With a step, a range query over the window gives a series per arm; without, an instant query at the window's end. */
        step: Duration.optional(),
        headers: Headers.default({}),
        timeout: Duration.default("10s"),
      }),
    }),
    /** GET a JSON document and pick a number by a JSON path (`$.data.value`). */
    z.strictObject({
      web: z.strictObject({
        url: Url,
        jsonPath: z.string().startsWith("$"),
        stableUrl: Url.optional(),
        headers: Headers.default({}),
        timeout: Duration.default("10s"),
      }),
    }),
  ],
  { error: "a provider is exactly one of builtin, prometheus or web" },
);
export type ProviderConfig = z.infer<typeof ProviderConfig>;

const Direction = z.enum(["increase", "decrease", "either"]);

export const JudgeConfig = z.union(
  [
    /**
     * Conditions over the measured values in CEL (`result` is the canary's value, `stable` the
     * baseline's, `requests` the canary's request count). Neither matching is Inconclusive.
     */
    z.strictObject({
      threshold: z
        .strictObject({
          successCondition: z.string().min(1).optional(),
          failureCondition: z.string().min(1).optional(),
        })
        .refine((t) => t.successCondition !== undefined || t.failureCondition !== undefined, {
          message: "a threshold judge needs a successCondition, a failureCondition or both",
        }),
    }),
    /**
     * Canary against stable on the same window. For rates, `maxIncrease` in absolute points
     * (0.02 = 2 points); for latencies, `maxRatio` (1.5 = +50 %). Fewer than `minSamples`
     * canary requests decide nothing (Inconclusive).
     */
    z.strictObject({
      relative: z
        .strictObject({
          maxIncrease: z.number().min(0).optional(),
          maxRatio: z.number().min(1).optional(),
          minSamples: z.int().min(1).default(200),
        })
        .refine((r) => r.maxIncrease !== undefined || r.maxRatio !== undefined, {
          message: "a relative judge needs maxIncrease, maxRatio or both",
        }),
    }),
    /** Kayenta's NetflixACAJudge classification of the canary series against the baseline series. */
    z.strictObject({
      mannWhitney: z.strictObject({
        direction: Direction.default("increase"),
        /** Kayenta hard-codes 0.98. */
        confidence: z.number().gt(0.5).lt(1).default(0.98),
        nanStrategy: z.enum(["remove", "replace"]).default("remove"),
        outliers: z
          .strictObject({
            strategy: z.enum(["keep", "remove"]).default("keep"),
            factor: z.number().positive().default(3),
          })
          .prefault({}),
        effectSize: z
          .strictObject({
            measure: z.enum(["meanRatio", "cles"]).default("meanRatio"),
            allowedIncrease: z.number().optional(),
            allowedDecrease: z.number().optional(),
            criticalIncrease: z.number().optional(),
            criticalDecrease: z.number().optional(),
          })
          .prefault({}),
        critical: z.boolean().default(false),
        mustHaveData: z.boolean().default(false),
      }),
    }),
    /**
     * Anytime-valid sequential test, checked after every interval without inflating false
     * rollbacks: errors (or slow requests) of canary against stable as a mixture likelihood
     * ratio (an e-process) that spans weight changes. The default judge for builtin signals.
     */
    z.strictObject({
      sequential: z
        .strictObject({
          /** The false-rollback rate it guarantees on a canary no worse than stable (+ margin). */
          alpha: z.number().gt(0).lt(0.5).default(0.01),
          /** Relative margin tolerated before a difference counts (0.1 = canary may be 10 % worse). */
          margin: z.number().min(0).default(0.1),
          /**
           * Rare events: the canary also passes early when an anytime-valid upper bound on its
           * own event share is within the stable share × (1 + margin) plus these absolute points
           * (0.002 = 0.2 points) — with almost no errors on either side a ratio cannot be shown.
           */
          absoluteMargin: z.number().min(0).max(1).default(0.002),
          /** Before this, no early pass (failures are still caught at once). */
          minBakeTime: Duration.default("5m"),
          /** Latency signals: a request is slow above this (ms); default: the stable p99 seen in the first interval × 1.5, fixed from then on. */
          slowThresholdMs: z.number().positive().optional(),
        })
        .prefault({}),
    }),
  ],
  { error: "a judge is exactly one of threshold, relative, mannWhitney or sequential" },
);
export type JudgeConfig = z.infer<typeof JudgeConfig>;

export const AnalysisMetric = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, {
    message: "expected a metric name (letters, digits, . _ -)",
  }),
  /** Time between measurements. */
  interval: Duration.default("10s"),
  /** Measurements to take; 0 means until the run is stopped (background) or the judge decides. */
  count: z.int().min(0).default(0),
  /** Wait before the first measurement. */
  initialDelay: Duration.default("0s"),
  /** Failed measurements tolerated; one more fails the metric (Argo's failed > limit). */
  failureLimit: z.int().min(0).default(0),
  /** Inconclusive measurements tolerated before the metric is Inconclusive (a person decides). */
  inconclusiveLimit: z.int().min(0).default(0),
  /** Errors in a row tolerated before the metric is in Error (provider down). */
  consecutiveErrorLimit: z.int().min(0).default(4),
  /** Measured and reported, never able to fail the run. */
  dryRun: z.boolean().default(false),
  provider: ProviderConfig,
  /** Default: sequential for builtin signals; required otherwise. */
  judge: JudgeConfig.optional(),
});
export type AnalysisMetric = z.infer<typeof AnalysisMetric>;

export const AnalysisTemplate = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, {
    message: "expected a template name (lowercase letters, digits, . _ -)",
  }),
  /** Arguments the template's queries use as `{{args.NAME}}`; a value here is the default. */
  args: z
    .array(z.strictObject({ name: z.string().min(1), value: z.string().optional() }))
    .default([]),
  metrics: z.array(AnalysisMetric).min(1),
});
export type AnalysisTemplate = z.infer<typeof AnalysisTemplate>;
