/**
 * The spec's building blocks (durations, names, matches, versions, per-service settings),
 * shared by the service schema and the strategy schema.
 *
 * Field documentation lives in `.describe()` / `.meta()`, not in comments: it is carried into
 * the JSON Schema (`aviary schema`, editors) and into `docs/spec-reference.md`, so it cannot
 * drift from the schema. `x-aviary-type` names a string's kind (duration, address) for both.
 *
 * @module
 */

import { z } from "zod";
import { normalizePath } from "../dataplane/path.js";
import { parseListenAddress } from "../util/address.js";
import { parseDuration } from "../util/duration.js";
import { linearRegexProblem } from "../util/linear-regex.js";

/**
 * A duration from `min` to `max` (both written as durations); kept as text, read with
 * `parseDuration`. Every duration has a bound: it keeps each deadline computed from a spec a
 * real date and each timer finite (the clock chains timers past Node's 24.8 days), and turns a
 * slip of the keyboard (`pause: 300d` for `300s`) into an error naming the field. The bounds
 * are `x-aviary-min`/`x-aviary-max` in the JSON Schema and the spec reference.
 */
export function durationWithin(max: string, min?: string) {
  const maxMs = parseDuration(max) as number;
  const minMs = min === undefined ? 0 : (parseDuration(min) as number);
  return z
    .string({ error: "expected a duration with a unit, such as 500ms, 10s, 2m or 1h30m" })
    .superRefine((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === undefined) {
        ctx.addIssue({
          code: "custom",
          message: "expected a duration such as 500ms, 10s, 2m or 1h30m",
        });
      } else if (ms > maxMs) {
        ctx.addIssue({
          code: "custom",
          message: `${s} is longer than ${max}, the most allowed here`,
        });
      } else if (ms < minMs) {
        ctx.addIssue({
          code: "custom",
          message: `${s} is shorter than ${min}, the least allowed here`,
        });
      }
    })
    .meta({
      description: "A duration: a number and a unit (ms, s, m, h, d), e.g. 500ms, 10s, 1h30m.",
      "x-aviary-type": "duration",
      "x-aviary-max": max,
      ...(min === undefined ? {} : { "x-aviary-min": min }),
    });
}

/**
 * A duration of at most 400 days: the longest anything in a spec lasts (a cookie's Max-Age,
 * which browsers cap at 400 days). Fields with a tighter sense use {@link durationWithin}.
 */
export const Duration = durationWithin("400d");

export const ListenAddress = z
  .string()
  .refine((s) => parseListenAddress(s) !== undefined, {
    message: "expected HOST:PORT, e.g. 127.0.0.1:9900 or [::1]:9900",
  })
  .meta({
    description: "HOST:PORT, e.g. 127.0.0.1:9900 or [::1]:9900.",
    "x-aviary-type": "address",
  });

/** Service and version names appear in URLs, metric labels and cookie values. */
export const Name = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/, {
    message:
      "expected 1-63 lowercase letters, digits, '.', '_' or '-', starting and ending alphanumeric",
  })
  .describe(
    "1-63 lowercase letters, digits, '.', '_' or '-', starting and ending alphanumeric: names appear in URLs, metric labels and cookie values.",
  );

const VersionName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/, {
    message: "expected a version such as v1.3.0 (letters, digits, '.', '_', '+', '-')",
  })
  .describe("The version's name, e.g. v1.3.0 (letters, digits, '.', '_', '+', '-').");

const TargetUrl = z
  .string()
  .superRefine((s, ctx) => {
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
  })
  .describe(
    "An upstream origin: scheme, host and port, nothing else (paths are kept as the client sent them), e.g. http://127.0.0.1:9001.",
  );

const HeaderName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, {
    message: "expected an HTTP header name (RFC 9110 token)",
  })
  .describe("An HTTP header name (case does not matter).")
  .transform((s) => s.toLowerCase());

// Matched against values a client chooses, so in linear time (RE2), never by backtracking.
const Regex = z.string().superRefine((s, ctx) => {
  const problem = linearRegexProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

export const StringMatch = z
  .union([
    z.strictObject({ exact: z.string().describe("The value equals this.") }),
    z.strictObject({ prefix: z.string().min(1).describe("The value starts with this.") }),
    z.strictObject({
      regex: Regex.describe(
        "The value contains a match of this regular expression (RE2 syntax, matched in linear time; anchor with ^ and $; `(?i)` ignores case).",
      ),
    }),
  ])
  .meta({
    title: "Value match",
    description:
      "How one value (a header, a cookie, a query parameter) is compared. Exactly one key.",
  });
export type StringMatch = z.infer<typeof StringMatch>;

export const RequestMatch = z
  .strictObject({
    headers: z
      .record(HeaderName, StringMatch)
      .optional()
      .describe("Request headers by name, each with how its value is compared."),
    cookies: z
      .record(z.string().min(1), StringMatch)
      .optional()
      .describe("Cookies by name, each with how its value is compared."),
    query: z
      .record(z.string().min(1), StringMatch)
      .optional()
      .describe("Query parameters by name, each with how its value is compared."),
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
  )
  .meta({
    title: "Request match",
    description:
      "A request matcher: every listed condition must hold (AND), as in Gateway API's HTTPRouteMatch. At least one condition.",
  });
export type RequestMatch = z.infer<typeof RequestMatch>;

export const Route = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .optional()
      .describe("A label for people reading the spec; it changes no behaviour."),
    match: RequestMatch.describe("Which requests the route takes."),
    to: z.enum(["stable", "canary"]).describe("The version matching requests go to."),
  })
  .describe("A match route: requests that match go to one version regardless of weight.");
export type Route = z.infer<typeof Route>;

export const Version = z
  .strictObject({
    version: VersionName,
    targets: z
      .array(TargetUrl)
      .min(1, { message: "a version needs at least one target" })
      .describe(
        "The version's upstream origins (e.g. http://127.0.0.1:9001); requests are spread round-robin over the available ones.",
      ),
  })
  .meta({ title: "Version", description: "A version of the service: its name and where it runs." });
export type Version = z.infer<typeof Version>;

export const Stickiness = z
  .strictObject({
    header: HeaderName.optional().describe("Bucket users on this request header's value."),
    cookie: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: "expected a cookie name" })
      .optional()
      .describe("Bucket users on this cookie's value."),
    clientAddress: z.literal(true).optional().describe("Bucket users on the client's IP address."),
    group: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Hash group (Unleash's groupId); defaults to the service name so services bucket independently.",
      ),
    setCookie: z
      .boolean()
      .default(false)
      .describe(
        "With `cookie`: when a request has no such cookie, make an id, set it on the response (Max-Age `cookieMaxAge`) and bucket on it, so a browser user stays on one version.",
      ),
    cookieMaxAge: Duration.default("30d").describe("Max-Age of the cookie `setCookie` sets."),
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
  })
  .describe(
    "What keeps one user on one version while the weight only grows. Exactly one source: header, cookie or clientAddress.",
  );
export type Stickiness = z.infer<typeof Stickiness>;

export const Mirror = z
  .strictObject({
    percent: z.number().min(0).max(100).describe("Share of requests (0-100) copied to the canary."),
    match: RequestMatch.optional().describe("Only requests matching this are mirrored."),
    methods: z
      .array(z.string().regex(/^[A-Z]+$/, { message: "expected an upper-case HTTP method" }))
      .min(1)
      .default(["GET", "HEAD", "OPTIONS"])
      .describe(
        "Methods that may be mirrored. Safe methods by default, because a copied write is a second write: list POST or PUT only for a canary whose writes go nowhere that matters.",
      ),
  })
  .meta({
    title: "Mirror",
    description: "Copies of live requests sent to the canary; their responses are discarded.",
  });
export type Mirror = z.infer<typeof Mirror>;

export const HealthCheck = z
  .strictObject({
    path: z
      .string()
      .startsWith("/")
      .default("/healthz")
      .describe("The path each target is asked with a GET; a 2xx or 3xx answer passes."),
    interval: durationWithin("1h", "10ms")
      .default("10s")
      .describe("Time between two checks of a target."),
    timeout: durationWithin("5m").default("2s").describe("A check that takes longer has failed."),
    unhealthyThreshold: z
      .int()
      .min(1)
      .default(3)
      .describe("Failed checks in a row before a target is taken out."),
    healthyThreshold: z
      .int()
      .min(1)
      .default(2)
      .describe("Passed checks in a row before it is put back."),
  })
  .describe("Active health checks of every target of the service.");
export type HealthCheck = z.infer<typeof HealthCheck>;

export const OutlierDetection = z
  .strictObject({
    consecutiveFailures: z
      .int()
      .min(0)
      .default(5)
      .describe("Connect errors and timeouts in a row before ejection; 0 turns ejection off."),
    countServerErrors: z.boolean().default(false).describe("Also count 5xx responses as failures."),
    baseEjectionTime: durationWithin("24h")
      .default("30s")
      .describe("First ejection lasts this long; each repeat doubles it, up to maxEjectionTime."),
    maxEjectionTime: durationWithin("24h").default("5m").describe("The longest an ejection lasts."),
  })
  .describe("Passive outlier detection, as Envoy's: eject a target after consecutive failures.");
export type OutlierDetection = z.infer<typeof OutlierDetection>;

export const Timeouts = z
  .strictObject({
    connect: durationWithin("5m").default("5s").describe("TCP (and TLS) connect to a target."),
    response: durationWithin("1h")
      .default("30s")
      .describe("From sending the request until the response headers arrive; 504 after it."),
    idle: durationWithin("1h")
      .default("60s")
      .describe("Largest gap between two response body chunks; 0ms turns it off."),
  })
  .describe("How long the router waits for a target.");
export type Timeouts = z.infer<typeof Timeouts>;

export const ServiceMatch = z
  .strictObject({
    host: z
      .string()
      .min(1)
      .describe(
        "The request's Host (case does not matter), e.g. shop.example.com. Routing, not access control: anyone who reaches the router can send any Host.",
      )
      .transform((s) => s.toLowerCase())
      .optional(),
    pathPrefix: z
      .string()
      .startsWith("/")
      // Requests are matched normalised, so a prefix written otherwise would never match.
      .superRefine((prefix, ctx) => {
        if (!prefix.startsWith("/")) return;
        const normalized = normalizePath(prefix);
        if (normalized === prefix) return;
        ctx.addIssue({
          code: "custom",
          message:
            normalized === undefined
              ? "not a valid path: a % must start an escape such as %2F; no \\ or #"
              : `request paths are matched normalised, so this prefix would never match: write ${normalized}`,
        });
      })
      .optional()
      .describe(
        "Paths starting with this at a segment boundary: /checkout matches /checkout, /checkout/pay and /checkout?x=1, not /checkouts. Matched against the normalised path (dot segments removed, slashes merged), which is also what the upstream receives.",
      ),
  })
  .refine((m) => m.host !== undefined || m.pathPrefix !== undefined, {
    message: "a service match needs a host, a pathPrefix or both",
  })
  .describe(
    "Which requests belong to the service: a host, a path prefix or both (both must hold). Services with a host are tried first, then longer prefixes before shorter ones.",
  );
export type ServiceMatch = z.infer<typeof ServiceMatch>;

export const OfrepRateLimit = z
  .strictObject({
    perKey: z
      .number()
      .positive()
      .max(1_000_000)
      .default(10_000)
      .describe(
        "Requests per second each client key may make to this instance (evaluations and change-stream opens); over it a request gets `429` with `Retry-After` in seconds and no body.",
      ),
    burst: z
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe("Requests a client key may make at once after a quiet spell (default: `perKey`)."),
    perAddress: z
      .number()
      .positive()
      .max(1_000_000)
      .default(20)
      .describe(
        "Requests per second (burst: twice as many) from one remote address without a valid client key: no key, an unknown key or another role's token. Over it they get `429` instead of `401`/`403`, which slows key guessing.",
      ),
    maxBuckets: z
      .int()
      .min(1)
      .max(1_000_000)
      .default(10_000)
      .describe(
        "Most buckets held at once, per kind (keys, addresses); the least recently used is dropped when full, so a flood of addresses cannot grow memory.",
      ),
  })
  .describe(
    "Token-bucket rate limits of the OFREP listener. The defaults are generous (10,000 requests/s per client key, about what one instance serves on two cores) so that a busy app is not throttled by its own key; a key leaked into a flood is.",
  );
export type OfrepRateLimit = z.infer<typeof OfrepRateLimit>;

export const OfrepSettings = z
  .strictObject({
    listen: ListenAddress.describe(
      "Where OFREP is served (`POST /ofrep/v1/evaluate/flags[/{key}]`, and its change stream), e.g. `0.0.0.0:8016`. Only client keys are accepted there.",
    ),
    rateLimit: OfrepRateLimit.prefault({}),
  })
  .meta({
    title: "OFREP",
    description:
      "Flag evaluation for OpenFeature SDKs over OFREP, on its own listener, for client keys only.",
  });
export type OfrepSettings = z.infer<typeof OfrepSettings>;
