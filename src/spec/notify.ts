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
import { Duration, Name } from "./schema-parts.js";

/** Where a secret lives: exactly one of an environment variable or a file. */
export const SecretRef = z
  .strictObject({
    /** Name of an environment variable holding the secret. */
    env: z.string().min(1).optional(),
    /** Path of a file holding the secret (trailing whitespace ignored). */
    file: z.string().min(1).optional(),
  })
  .refine((s) => (s.env === undefined) !== (s.file === undefined), {
    message: "name exactly one of env or file",
  });
export type SecretRef = z.infer<typeof SecretRef>;

const HttpUrl = z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" });

/** A URL given inline, or (for chat webhooks, whose URL is the secret) from a SecretRef. */
const Endpoint = {
  url: HttpUrl.optional(),
  urlFrom: SecretRef.optional(),
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
    name: Name,
    ...Endpoint,
    /** Body shape: Aviary's signed JSON, or a chat service's incoming-webhook message. */
    format: z.enum(["json", "slack", "teams", "discord"]).default("json"),
    /** Which events to send; all of them when left out. */
    events: z.array(z.enum(NOTIFICATION_EVENTS)).min(1).optional(),
    /** Only these services; all when left out. */
    services: z.array(Name).min(1).optional(),
    /** HMAC-SHA256 key for the X-Aviary-Signature header. */
    secret: SecretRef.optional(),
    timeout: Duration.default("5s"),
    /** Attempts after the first, with doubling back-off from 1 s. */
    retries: z.int().min(0).max(20).default(5),
  })
  .refine((n) => (n.url === undefined) !== (n.urlFrom === undefined), {
    message: "give exactly one of url or urlFrom",
  });
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

/**
 * A gate holds a rollout at one point until its hook answers 2xx (or an operator opens it
 * through the API): `confirm-rollout` before any traffic moves, `confirm-traffic-increase`
 * before each weight increase, `confirm-promotion` before the canary becomes stable.
 * `pre-rollout` is asked once before traffic moves and aborts the rollout if it keeps failing;
 * `post-rollout` is told when the rollout ends; `rollback` is asked while the rollout runs
 * and aborts it when it answers 2xx.
 */
export const Gate = z
  .strictObject({
    name: Name,
    type: z.enum(GATE_TYPES),
    ...Endpoint,
    /** Signs the gate's requests like notifications. */
    secret: SecretRef.optional(),
    /** How long one call may take. */
    timeout: Duration.default("10s"),
    /** How often a waiting gate (or a rollback gate) asks its hook again. */
    interval: Duration.default("10s"),
    /** pre-rollout: attempts after the first before the rollout is aborted. */
    retries: z.int().min(0).max(20).default(2),
    /** Passed to the hook in the request body. */
    metadata: z.record(z.string(), z.string()).default({}),
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
  });
export type Gate = z.infer<typeof Gate>;
/** A gate as written, before defaults. */
export type GateInput = z.input<typeof Gate>;

export const AuthSettings = z.strictObject({
  /** Let requests without a token read (never change) state: for a trusted network only. */
  anonymousRead: z.boolean().default(false),
  /**
   * The tokens file (one `sha256:<hex> <role> <name>` line each; `aviary token create` writes
   * it). Relative paths are under the data directory.
   */
  tokensFile: z.string().min(1).default("tokens"),
});
export type AuthSettings = z.infer<typeof AuthSettings>;
