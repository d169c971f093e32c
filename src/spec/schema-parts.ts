/**
 * The spec's building blocks (durations, names, matches, versions, per-service settings),
 * shared by the service schema and the strategy schema.
 *
 * @module
 */

import { z } from "zod";
import { parseListenAddress } from "../util/address.js";
import { parseDuration } from "../util/duration.js";

/** A duration such as `500ms`, `10s`, `2m` or `1h30m`; kept as text, read with `parseDuration`. */
export const Duration = z
  .string()
  .refine((s) => parseDuration(s) !== undefined, {
    message: "expected a duration such as 500ms, 10s, 2m or 1h30m",
  })
  .meta({
    description: "A duration: a number and a unit (ms, s, m, h, d), e.g. 500ms, 10s, 1h30m.",
  });

export const ListenAddress = z.string().refine((s) => parseListenAddress(s) !== undefined, {
  message: "expected HOST:PORT, e.g. 127.0.0.1:9900 or [::1]:9900",
});

/** Service and version names appear in URLs, metric labels and cookie values. */
export const Name = z.string().regex(/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/, {
  message:
    "expected 1-63 lowercase letters, digits, '.', '_' or '-', starting and ending alphanumeric",
});

const VersionName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/, {
  message: "expected a version such as v1.3.0 (letters, digits, '.', '_', '+', '-')",
});

/** An upstream origin: scheme, host and port, nothing else (paths are kept as the client sent them). */
const TargetUrl = z.string().superRefine((s, ctx) => {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    ctx.addIssue({ code: "custom", message: "expected a URL such as http://127.0.0.1:9001" });
    return;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    ctx.addIssue({
      code: "custom",
      message: `unsupported scheme ${url.protocol} (use http or https)`,
    });
  } else if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    ctx.addIssue({
      code: "custom",
      message: "a target is an origin only: drop the path, query and fragment",
    });
  } else if (url.username || url.password) {
    ctx.addIssue({ code: "custom", message: "credentials in target URLs are not supported" });
  }
});

const HeaderName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, {
    message: "expected an HTTP header name (RFC 9110 token)",
  })
  .transform((s) => s.toLowerCase());

const Regex = z.string().superRefine((s, ctx) => {
  try {
    new RegExp(s);
  } catch (err) {
    ctx.addIssue({
      code: "custom",
      message: `invalid regular expression: ${(err as Error).message}`,
    });
  }
});

/** How one value (a header, a cookie, a query parameter) is compared. Exactly one key. */
export const StringMatch = z.union([
  z.strictObject({ exact: z.string() }),
  z.strictObject({ prefix: z.string().min(1) }),
  z.strictObject({ regex: Regex }),
]);
export type StringMatch = z.infer<typeof StringMatch>;

/** A request matcher: every listed condition must hold (AND), as in Gateway API's HTTPRouteMatch. */
export const RequestMatch = z
  .strictObject({
    headers: z.record(HeaderName, StringMatch).optional(),
    cookies: z.record(z.string().min(1), StringMatch).optional(),
    query: z.record(z.string().min(1), StringMatch).optional(),
  })
  .refine(
    (m) =>
      Object.keys(m.headers ?? {}).length +
        Object.keys(m.cookies ?? {}).length +
        Object.keys(m.query ?? {}).length >
      0,
    {
      message: "a match needs at least one header, cookie or query condition",
    },
  );
export type RequestMatch = z.infer<typeof RequestMatch>;

/** A match route: requests that match go to one version regardless of weight. */
export const Route = z.strictObject({
  name: z.string().min(1).optional(),
  match: RequestMatch,
  to: z.enum(["stable", "canary"]),
});
export type Route = z.infer<typeof Route>;

export const Version = z.strictObject({
  version: VersionName,
  targets: z.array(TargetUrl).min(1, { message: "a version needs at least one target" }),
});
export type Version = z.infer<typeof Version>;

/** What keeps one user on one version while the weight only grows. Exactly one source. */
export const Stickiness = z
  .strictObject({
    header: HeaderName.optional(),
    cookie: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: "expected a cookie name" })
      .optional(),
    clientAddress: z.literal(true).optional(),
    /** Hash group (Unleash's groupId); defaults to the service name so services bucket independently. */
    group: z.string().min(1).optional(),
    /**
     * With `cookie`: when a request has no such cookie, make an id, set it on the response
     * (Max-Age below) and bucket on it, so a browser user stays on one version.
     */
    setCookie: z.boolean().default(false),
    cookieMaxAge: Duration.default("30d"),
  })
  .refine(
    (s) => [s.header, s.cookie, s.clientAddress].filter((v) => v !== undefined).length === 1,
    {
      message: "stickiness needs exactly one of header, cookie or clientAddress",
    },
  )
  .refine((s) => !s.setCookie || s.cookie !== undefined, {
    message: "setCookie needs a cookie name",
    path: ["setCookie"],
  });
export type Stickiness = z.infer<typeof Stickiness>;

/** Copies of live requests sent to the canary; their responses are discarded. */
export const Mirror = z.strictObject({
  /** Share of requests (0-100) copied to the canary. */
  percent: z.number().min(0).max(100),
  /** Only requests matching this are mirrored. */
  match: RequestMatch.optional(),
  /**
   * Methods that may be mirrored. Safe methods by default, because a copied write is a second
   * write: list POST or PUT only for a canary whose writes go nowhere that matters.
   */
  methods: z
    .array(z.string().regex(/^[A-Z]+$/, { message: "expected an upper-case HTTP method" }))
    .min(1)
    .default(["GET", "HEAD", "OPTIONS"]),
});
export type Mirror = z.infer<typeof Mirror>;

export const HealthCheck = z.strictObject({
  path: z.string().startsWith("/").default("/healthz"),
  interval: Duration.default("10s"),
  timeout: Duration.default("2s"),
  /** Failed checks in a row before a target is taken out. */
  unhealthyThreshold: z.int().min(1).default(3),
  /** Passed checks in a row before it is put back. */
  healthyThreshold: z.int().min(1).default(2),
});
export type HealthCheck = z.infer<typeof HealthCheck>;

/** Passive outlier detection, as Envoy's: eject a target after consecutive failures. */
export const OutlierDetection = z.strictObject({
  /** Connect errors and timeouts in a row before ejection; 0 turns ejection off. */
  consecutiveFailures: z.int().min(0).default(5),
  /** Also count 5xx responses as failures. */
  countServerErrors: z.boolean().default(false),
  /** First ejection lasts this long; each repeat doubles it, up to maxEjectionTime. */
  baseEjectionTime: Duration.default("30s"),
  maxEjectionTime: Duration.default("5m"),
});
export type OutlierDetection = z.infer<typeof OutlierDetection>;

export const Timeouts = z.strictObject({
  /** TCP (and TLS) connect to a target. */
  connect: Duration.default("5s"),
  /** From sending the request until the response headers arrive; 504 after it. */
  response: Duration.default("30s"),
  /** Largest gap between two response body chunks; 0ms turns it off. */
  idle: Duration.default("60s"),
});
export type Timeouts = z.infer<typeof Timeouts>;

export const ServiceMatch = z
  .strictObject({
    host: z
      .string()
      .min(1)
      .transform((s) => s.toLowerCase())
      .optional(),
    pathPrefix: z.string().startsWith("/").optional(),
  })
  .refine((m) => m.host !== undefined || m.pathPrefix !== undefined, {
    message: "a service match needs a host, a pathPrefix or both",
  });
export type ServiceMatch = z.infer<typeof ServiceMatch>;
