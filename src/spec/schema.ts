/**
 * The declarative spec, schema first: every type Aviary reads from a spec file is inferred
 * from these zod schemas, every default is applied here and nowhere else, and unknown
 * fields are errors (`z.strictObject`). `aviary schema` prints the JSON Schema made from it.
 *
 * @module
 */

import { z } from "zod";
import { AnalysisTemplate } from "./analysis.js";
import { checkAnalysisRefs, checkAnalysisTemplates } from "./analysis-checks.js";
import { AuthSettings, Notification } from "./notify.js";
import {
  Duration,
  HealthCheck,
  ListenAddress,
  Mirror,
  Name,
  OutlierDetection,
  Route,
  ServiceMatch,
  Stickiness,
  Timeouts,
  Version,
} from "./schema-parts.js";
import { Strategy } from "./strategy.js";

export * from "./analysis.js";
export * from "./notify.js";
export * from "./schema-parts.js";
export { type AnalysisRef, type BlueGreen, Step, Strategy } from "./strategy.js";

export const Service = z
  .strictObject({
    name: Name,
    match: ServiceMatch,
    stable: Version,
    canary: Version.optional(),
    /** Share of ordinary traffic (0-100 %, to 0.01) that goes to the canary. */
    weight: z.number().min(0).max(100).default(0),
    stickiness: Stickiness.optional(),
    routes: z.array(Route).default([]),
    mirror: Mirror.optional(),
    timeouts: Timeouts.prefault({}),
    outlierDetection: OutlierDetection.prefault({}),
    healthCheck: HealthCheck.optional(),
    /** How a new canary is rolled out; without one, `weight` is a static split. */
    strategy: Strategy.optional(),
  })
  .superRefine((s, ctx) => {
    if (s.canary === undefined && s.weight > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["weight"],
        message: "a weight above 0 needs a canary",
      });
    }
    if (s.canary !== undefined && s.canary.version === s.stable.version) {
      ctx.addIssue({
        code: "custom",
        path: ["canary", "version"],
        message: `the canary version must differ from the stable version (${s.stable.version})`,
      });
    }
    if (s.strategy !== undefined && s.weight > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["weight"],
        message: "with a strategy, the rollout sets the weight: leave weight out",
      });
    }
    if (Math.round(s.weight * 100) !== s.weight * 100) {
      ctx.addIssue({
        code: "custom",
        path: ["weight"],
        message: "weight has at most two decimals",
      });
    }
  });
export type Service = z.infer<typeof Service>;

export const ProxySettings = z.strictObject({
  /** Largest request head accepted; larger ones get 431. */
  maxHeaderSize: z.int().min(1024).max(1_048_576).default(16_384),
  /** How long an idle client keep-alive connection stays open. */
  keepAliveTimeout: Duration.default("65s"),
  /** Upstream connections per target (undici pool size). */
  connectionsPerTarget: z.int().min(1).max(4096).default(128),
  /** In-flight mirror copies at most; further copies are dropped and counted. */
  mirrorConcurrency: z.int().min(1).default(64),
  /** Request bodies up to this size are mirrored; larger ones are not copied. */
  mirrorMaxBodyBytes: z.int().min(0).default(1_048_576),
  /** How long shutdown waits for in-flight requests before closing them. */
  drainTimeout: Duration.default("30s"),
});
export type ProxySettings = z.infer<typeof ProxySettings>;

export const ControllerSettings = z.strictObject({
  /** How often every active rollout is re-checked (targets down, deadlines); timed steps fire on their own. */
  tick: Duration.default("1s"),
});
export type ControllerSettings = z.infer<typeof ControllerSettings>;

export const MetricsSettings = z.strictObject({
  /** How much per-second history the router keeps for queries. */
  window: Duration.default("15m"),
});
export type MetricsSettings = z.infer<typeof MetricsSettings>;

export const Spec = z
  .strictObject({
    /** Data-plane listen address. */
    listen: ListenAddress.default("0.0.0.0:8080"),
    /** Admin address (API, dashboard, /metrics). Loopback unless you mean otherwise. */
    admin: ListenAddress.default("127.0.0.1:9900"),
    proxy: ProxySettings.prefault({}),
    metrics: MetricsSettings.prefault({}),
    controller: ControllerSettings.prefault({}),
    services: z.array(Service).default([]),
    analysisTemplates: z.array(AnalysisTemplate).default([]),
    /** Who may use the admin API (see AuthSettings). */
    auth: AuthSettings.prefault({}),
    /** Where rollout events are sent as they happen. */
    notifications: z.array(Notification).default([]),
  })
  .superRefine((spec, ctx) => {
    checkAnalysisTemplates(spec.analysisTemplates, ctx);
    checkAnalysisRefs(spec.services, spec.analysisTemplates, ctx);
    const names = new Map<string, number>();
    const matches = new Map<string, number>();
    spec.services.forEach((s, i) => {
      const seen = names.get(s.name);
      if (seen !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["services", i, "name"],
          message: `service name ${s.name} is already used by services[${seen}]`,
        });
      } else names.set(s.name, i);
      const key = `${s.match.host ?? "*"} ${s.match.pathPrefix ?? "/"}`;
      const other = matches.get(key);
      if (other !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["services", i, "match"],
          message: `the same host and path prefix as services[${other}]`,
        });
      } else matches.set(key, i);
    });
  });
export type Spec = z.infer<typeof Spec>;
/** A spec as written, before defaults. */
export type SpecInput = z.input<typeof Spec>;
