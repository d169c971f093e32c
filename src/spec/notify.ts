/**
 * The spec's outgoing calls and who may call in: event notifications (webhooks in JSON,
 * Slack, Microsoft Teams or Discord form), rollout gates in the manner of Flagger's webhook
 * types, and the admin API's authentication settings.
 *
 * Secrets (signing keys, chat webhook URLs, which are secrets too) are never written in the
 * spec itself: they are named by environment variable or file, read when used.
 *
 * @module
 */

import { z } from "zod";
import { durationWithin, Name } from "./schema-parts.js";

/** One outgoing HTTP call (a webhook, a gate hook): minutes at most. */
const CALL_TIMEOUT = durationWithin("5m");

export const SecretRef = z
  .strictObject({
    env: z
      .string()
      .min(1)
      .optional()
      .describe("Name of an environment variable holding the secret."),
    file: z
      .string()
      .min(1)
      .optional()
      .describe("Path of a file holding the secret (trailing whitespace ignored)."),
  })
  .refine((s) => (s.env === undefined) !== (s.file === undefined), {
    message: "name exactly one of env or file",
  })
  .meta({
    title: "Secret reference",
    description:
      "Where a secret lives: exactly one of an environment variable or a file. Read when Aviary starts; a missing one stops the start.",
  });
export type SecretRef = z.infer<typeof SecretRef>;

const HttpUrl = z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" });

/** A URL given inline, or (for chat webhooks, whose URL is the secret) from a SecretRef. */
const Endpoint = {
  url: HttpUrl.optional().describe("The URL called (POST)."),
  urlFrom: SecretRef.optional().describe(
    "The URL from an environment variable or file, for URLs that are secrets (chat webhooks).",
  ),
};

export const NOTIFICATION_EVENTS = [
  "rollout.started",
  "step.started",
  "weight.set",
  "paused",
  "resumed",
  "gate.waiting",
  "gate.opened",
  "analysis.failed",
  "aborted",
  "promoted",
  "undo",
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

export const Notification = z
  .strictObject({
    name: Name.describe("The notification's name, in logs and the delivery metric."),
    ...Endpoint,
    format: z
      .enum(["json", "slack", "teams", "discord"])
      .default("json")
      .describe("Body shape: Aviary's signed JSON, or a chat service's incoming-webhook message."),
    events: z
      .array(z.enum(NOTIFICATION_EVENTS))
      .min(1)
      .optional()
      .describe("Which events to send; all of them when left out."),
    services: z.array(Name).min(1).optional().describe("Only these services; all when left out."),
    secret: SecretRef.optional().describe("HMAC-SHA256 key for the X-Aviary-Signature header."),
    timeout: CALL_TIMEOUT.default("5s").describe("One attempt that takes longer has failed."),
    retries: z
      .int()
      .min(0)
      .max(20)
      .default(5)
      .describe("Attempts after the first, with doubling back-off from 1 s."),
  })
  .refine((n) => (n.url === undefined) !== (n.urlFrom === undefined), {
    message: "give exactly one of url or urlFrom",
  })
  .describe("A webhook told about rollout events as they happen: exactly one of url or urlFrom.");
export type Notification = z.infer<typeof Notification>;

export const GATE_TYPES = [
  "confirm-rollout",
  "pre-rollout",
  "confirm-traffic-increase",
  "confirm-promotion",
  "post-rollout",
  "rollback",
] as const;
export type GateType = (typeof GATE_TYPES)[number];

/** Gates that need a URL: nobody could open them by hand in time. */
const NEEDS_URL: ReadonlySet<GateType> = new Set(["pre-rollout", "post-rollout"]);

const GATE_DOC =
  "A gate holds a rollout at one point until its hook answers 2xx (or an operator opens it through the API): `confirm-rollout` before any traffic moves, `confirm-traffic-increase` before each weight increase, `confirm-promotion` before the canary becomes stable. `pre-rollout` is asked once before traffic moves and aborts the rollout if it keeps failing; `post-rollout` is told when the rollout ends; `rollback` is asked while the rollout runs and aborts it when it answers 2xx.";

export const Gate = z
  .strictObject({
    name: Name.describe("The gate's name, unique in the strategy; the API opens a gate by it."),
    type: z.enum(GATE_TYPES).describe("Where the gate holds the rollout (see above)."),
    ...Endpoint,
    secret: SecretRef.optional().describe("Signs the gate's requests like notifications."),
    timeout: CALL_TIMEOUT.default("10s").describe("How long one call may take."),
    interval: durationWithin("24h", "100ms")
      .default("10s")
      .describe("How often a waiting gate (or a rollback gate) asks its hook again."),
    retries: z
      .int()
      .min(0)
      .max(20)
      .default(2)
      .describe("pre-rollout: attempts after the first before the rollout is aborted."),
    metadata: z
      .record(z.string(), z.string())
      .default({})
      .describe("Passed to the hook in the request body."),
  })
  .refine((g) => !(g.url !== undefined && g.urlFrom !== undefined), {
    message: "give url or urlFrom, not both",
  })
  .superRefine((g, ctx) => {
    if (NEEDS_URL.has(g.type) && g.url === undefined && g.urlFrom === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["url"],
        message: `a ${g.type} gate calls a hook: give url or urlFrom`,
      });
    }
  })
  .describe(GATE_DOC);
export type Gate = z.infer<typeof Gate>;
/** A gate as written, before defaults. */
export type GateInput = z.input<typeof Gate>;

export const AuthSettings = z
  .strictObject({
    anonymousRead: z
      .boolean()
      .default(false)
      .describe(
        "Let requests without a token read (never change) state: for a trusted network only.",
      ),
    tokensFile: z
      .string()
      .min(1)
      .default("tokens")
      .describe(
        "The tokens file (one `sha256:<hex> <role> <name>` line each; `aviary token create` writes it). Relative paths are under the data directory.",
      ),
  })
  .describe("Who may use the admin API: the operator token, the tokens file, anonymous reads.");
export type AuthSettings = z.infer<typeof AuthSettings>;
