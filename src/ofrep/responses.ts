/**
 * OFREP's bodies, as its OpenAPI document (open-feature/protocol, service/openapi.yaml) gives
 * them, and as the published providers accept them: a success always carries `value` (the
 * 0.1.3 server provider takes one without it for an error), metadata values are primitives.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { CompiledFlag, EvaluationContext } from "../flags/evaluate.js";
import type { FlagSet } from "../flags/served.js";

export type OfrepErrorCode =
  | "PARSE_ERROR"
  | "TARGETING_KEY_MISSING"
  | "INVALID_CONTEXT"
  | "GENERAL"
  | "FLAG_NOT_FOUND";

export interface Failure {
  key?: string;
  errorCode: OfrepErrorCode;
  errorDetails: string;
}

/** A flag's evaluation, success or failure, with the HTTP status a single evaluation answers. */
export function evaluationBody(
  flag: CompiledFlag,
  ctx: EvaluationContext,
): { status: 200 | 400; body: Record<string, unknown> } {
  const e = flag.evaluate(ctx);
  if (e.errorCode !== undefined)
    return {
      status: 400,
      body: {
        key: flag.key,
        errorCode: e.errorCode,
        errorDetails: e.errorDetails ?? e.errorCode,
        ...(e.metadata ? { metadata: e.metadata } : {}),
      },
    };
  return {
    status: 200,
    body: {
      key: flag.key,
      value: e.value,
      reason: e.reason,
      variant: e.variant,
      ...(e.metadata ? { metadata: e.metadata } : {}),
    },
  };
}

/** The bulk body for one context: every flag, failures in line. */
export function bulkBody(
  set: FlagSet,
  ctx: EvaluationContext,
  eventStreams: readonly Record<string, unknown>[],
): Record<string, unknown> {
  const flags: Record<string, unknown>[] = [];
  for (const flag of set.flags.values()) flags.push(evaluationBody(flag, ctx).body);
  return {
    flags,
    metadata: { revision: set.revision },
    ...(eventStreams.length > 0 ? { eventStreams } : {}),
  };
}

/** A strong ETag over the exact bytes sent. */
export function etagOf(text: string): string {
  return `"${createHash("sha256").update(text).digest("base64url").slice(0, 27)}"`;
}

/**
 * Whether `If-None-Match` names this ETag. RFC 9110 compares weakly here, so `W/"x"` names
 * `"x"`; `*` names any current representation.
 */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  for (const part of header.split(",")) {
    const t = part.trim();
    if (t === "*" || t === etag || (t.startsWith("W/") && t.slice(2) === etag)) return true;
  }
  return false;
}

/**
 * The evaluation context of a request body, or why there is none. A missing `context` is an
 * empty one (a static flag needs none); one that is not an object, or a `targetingKey` that is
 * not a string, is INVALID_CONTEXT.
 */
export function contextOf(
  body: unknown,
): { ok: true; ctx: EvaluationContext } | { ok: false; failure: Failure } {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return {
      ok: false,
      failure: { errorCode: "PARSE_ERROR", errorDetails: "the body must be a JSON object" },
    };
  const ctx = (body as { context?: unknown }).context;
  if (ctx === undefined) return { ok: true, ctx: {} };
  if (typeof ctx !== "object" || ctx === null || Array.isArray(ctx))
    return {
      ok: false,
      failure: { errorCode: "INVALID_CONTEXT", errorDetails: "context must be a JSON object" },
    };
  const key = (ctx as { targetingKey?: unknown }).targetingKey;
  if (key !== undefined && typeof key !== "string")
    return {
      ok: false,
      failure: {
        errorCode: "INVALID_CONTEXT",
        errorDetails: "context.targetingKey must be a string",
      },
    };
  return { ok: true, ctx: ctx as EvaluationContext };
}
