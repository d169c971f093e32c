/**
 * The declarative spec, schema first: every type Aviary reads from a spec file is inferred
 * from these zod schemas, every default is applied here and nowhere else, and unknown
 * fields are errors (`z.strictObject`). `aviary schema` prints the JSON Schema made from it.
 * Fields are documented with `.describe()`, which reaches that JSON Schema and
 * `docs/spec-reference.md` (`npm run docs`).
 *
 * @module
 */

import { z } from "zod";
import { Flag } from "../flags/schema.js";
import { capabilityIssues } from "../providers/traffic/capabilities.js";
import { engineCapabilities } from "../providers/traffic/engines.js";
import { listenConflict, ofrepConflict } from "../util/address.js";
import { parseCidr } from "../util/cidr.js";
import { AnalysisTemplate } from "./analysis.js";
import { checkAnalysisRefs, checkAnalysisTemplates } from "./analysis-checks.js";
import { DataplaneSettings } from "./dataplane.js";
import { AuthSettings, Notification } from "./notify.js";
import {
  durationWithin,
  HealthCheck,
  ListenAddress,
  Mirror,
  Name,
  OfrepSettings,
  OutlierDetection,
  Route,
  ServiceMatch,
  Stickiness,
  Timeouts,
  Version,
} from "./schema-parts.js";
import { Strategy } from "./strategy.js";

export * from "./analysis.js";
export * from "./dataplane.js";
export * from "./notify.js";
export * from "./schema-parts.js";
export { type AnalysisRef, type BlueGreen, Step, Strategy } from "./strategy.js";

export const Service = z
  .strictObject({
    name: Name.describe(
      "The service's name, unique in the spec; the CLI, the API and metric labels use it.",
    ),
    match: ServiceMatch,
    stable: Version.describe("The version serving everyone today."),
    canary: Version.optional().describe(
      "The new version on trial. With a strategy, a new canary here starts a rollout when the spec is applied; `aviary deploy` starts one without editing the spec.",
    ),
    weight: z
      .number()
      .min(0)
      .max(100)
      .default(0)
      .describe("Share of ordinary traffic (0-100 %, to 0.01) that goes to the canary."),
    stickiness: Stickiness.optional(),
    routes: z
      .array(Route)
      .default([])
      .describe(
        "Match routes, tried in order before the weight: the first that matches decides the version.",
      ),
    mirror: Mirror.optional(),
    timeouts: Timeouts.prefault({}),
    outlierDetection: OutlierDetection.prefault({}),
    healthCheck: HealthCheck.optional(),
    strategy: Strategy.optional().describe(
      "How a new canary is rolled out; without one, `weight` is a static split.",
    ),
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
    // w × 100 in binary floating point is not always whole for two decimals (0.29 × 100).
    if (Math.abs(Math.round(s.weight * 100) - s.weight * 100) > 1e-6) {
      ctx.addIssue({
        code: "custom",
        path: ["weight"],
        message: "weight has at most two decimals",
      });
    }
  })
  .describe("One thing users call, reached through a host and/or path prefix.");
export type Service = z.infer<typeof Service>;

export const ProxySettings = z
  .strictObject({
    maxHeaderSize: z
      .int()
      .min(1024)
      .max(1_048_576)
      .default(16_384)
      .describe("Largest request head accepted, in bytes; larger ones get 431."),
    keepAliveTimeout: durationWithin("1h")
      .default("65s")
      .describe("How long an idle client keep-alive connection stays open."),
    connectionsPerTarget: z
      .int()
      .min(1)
      .max(4096)
      .default(128)
      .describe("Upstream connections per target (undici pool size)."),
    queuePerTarget: z
      .int()
      .min(0)
      .max(65_536)
      .default(128)
      .describe(
        "Requests that may wait for a target whose `connectionsPerTarget` are all busy. When every available target of a version is that full, Aviary answers 503 with Retry-After at once rather than queue without bound.",
      ),
    maxConnections: z
      .int()
      .min(1)
      .optional()
      .describe(
        "Client connections the router holds open at most; further ones are closed at accept and counted in `aviary_router_connections_refused_total`. Default: half of what the open-files limit leaves after a reserve of 256 (admin API, store, health checks), at most 16384.",
      ),
    // Node's own request timeout (5 minutes) ends any upload before a longer stall could count.
    requestBodyTimeout: durationWithin("5m", "100ms")
      .default("30s")
      .describe(
        "How long a client's upload may stall (no byte of the request body arriving) before Aviary stops the upstream request and answers 408. Never counted against the target.",
      ),
    mirrorConcurrency: z
      .int()
      .min(1)
      .default(64)
      .describe("In-flight mirror copies at most; further copies are dropped and counted."),
    mirrorMaxBodyBytes: z
      .int()
      .min(0)
      .default(1_048_576)
      .describe("Request bodies up to this size are mirrored; larger ones are not copied."),
    drainTimeout: durationWithin("1h")
      .default("30s")
      .describe("How long shutdown waits for in-flight requests before closing them."),
    trustedProxies: z
      .array(
        z.string().refine((s) => parseCidr(s) !== undefined, {
          message: "expected an address or a CIDR range such as 10.0.0.0/8 or 2001:db8::/32",
        }),
      )
      .default([])
      .describe(
        "Addresses (or CIDR ranges) of the proxies in front of Aviary, such as a load balancer. From these, the client's X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and Forwarded are kept (Aviary appends its own hop); from anyone else they are replaced by what Aviary saw. Empty: trust nobody.",
      ),
  })
  .describe("The data plane's limits. Read at start: a change needs a restart.");
export type ProxySettings = z.infer<typeof ProxySettings>;

export const ControllerSettings = z
  .strictObject({
    tick: durationWithin("1m", "10ms")
      .default("1s")
      .describe(
        "How often every active rollout is re-checked (targets down, deadlines); timed steps fire on their own.",
      ),
  })
  .describe("The rollout controller. Read at start: a change needs a restart.");
export type ControllerSettings = z.infer<typeof ControllerSettings>;

export const MetricsSettings = z
  .strictObject({
    // One slot per second per version is kept: a day is already 86,400 of them.
    window: durationWithin("24h", "1s")
      .default("15m")
      .describe("How much per-second history the router keeps for queries."),
  })
  .describe("The router's per-version metrics. Read at start: a change needs a restart.");
export type MetricsSettings = z.infer<typeof MetricsSettings>;

export const Spec = z
  .strictObject({
    listen: ListenAddress.default("0.0.0.0:8080").describe(
      "Data-plane listen address. `aviary serve --listen` overrides it.",
    ),
    admin: ListenAddress.default("127.0.0.1:9900").describe(
      "Admin address (API, dashboard, /metrics). Loopback unless you mean otherwise. `aviary serve --admin` overrides it.",
    ),
    proxy: ProxySettings.prefault({}),
    dataplane: DataplaneSettings.prefault({}),
    metrics: MetricsSettings.prefault({}),
    controller: ControllerSettings.prefault({}),
    services: z.array(Service).default([]).describe("The services the router serves."),
    analysisTemplates: z
      .array(AnalysisTemplate)
      .default([])
      .describe("Named sets of metrics that strategies measure canaries with."),
    auth: AuthSettings.prefault({}).describe(
      "Who may use the admin API. Read at start: a change needs a restart.",
    ),
    notifications: z
      .array(Notification)
      .default([])
      .describe("Where rollout events are sent as they happen."),
    ofrep: OfrepSettings.optional().describe(
      "Flag evaluation over OFREP for OpenFeature SDKs, on its own listener with client keys ([feature flags](feature-flags.md#ofrep)). Absent: no OFREP listener. Read at start: a change needs a restart.",
    ),
    flags: z
      .array(Flag)
      .default([])
      .describe(
        "Feature flags: typed variants, targeting rules and a percentage rollout ([feature flags](feature-flags.md)).",
      ),
  })
  .superRefine((spec, ctx) => {
    checkAnalysisTemplates(spec.analysisTemplates, ctx);
    checkAnalysisRefs(spec.services, spec.analysisTemplates, ctx);
    checkAnalysisRefs(spec.flags, spec.analysisTemplates, ctx, "flags");
    const caps = engineCapabilities(spec.dataplane);
    if (caps !== undefined)
      for (const issue of capabilityIssues(spec.services, spec.dataplane.engine, caps))
        ctx.addIssue({ code: "custom", path: issue.path, message: issue.message });
    const clash = listenConflict(spec.listen, spec.admin);
    if (clash !== undefined) {
      // At `admin`; when admin is left at its default, only `listen` is in the file (orAt).
      ctx.addIssue({
        code: "custom",
        path: ["admin"],
        message: clash,
        params: { orAt: ["listen"] },
      });
    }
    if (spec.ofrep !== undefined) {
      const clash = ofrepConflict(spec.ofrep.listen, spec.listen, spec.admin);
      if (clash !== undefined)
        ctx.addIssue({ code: "custom", path: ["ofrep", "listen"], message: clash });
    }
    const flagKeys = new Map<string, number>();
    spec.flags.forEach((f, i) => {
      const seen = flagKeys.get(f.key);
      if (seen !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["flags", i, "key"],
          message: `flag key ${f.key} is already used by flags[${seen}]`,
        });
      else flagKeys.set(f.key, i);
    });
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
