/**
 * Errors as `application/problem+json` (RFC 9457) with a stable `code`, mapped in one place.
 * Clients get the message of errors Aviary meant to say, never a stack or an internal detail.
 *
 * @module
 */

import { STATUS_CODES } from "node:http";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { AviaryError } from "../errors.js";
import { SpecError } from "../spec/load.js";
import { ACCEPTED_BODY } from "./body.js";

const STATUS_BY_CODE: Record<string, number> = {
  AVIARY_UNKNOWN_SERVICE: 404,
  AVIARY_NO_ROLLOUT: 404,
  AVIARY_UNKNOWN_GATE: 404,
  AVIARY_NOT_FOUND: 404,
  AVIARY_SPEC_INVALID: 400,
  AVIARY_BAD_REQUEST: 400,
  AVIARY_UNAUTHORIZED: 401,
  AVIARY_FORBIDDEN: 403,
  AVIARY_STORE_STALE_WRITE: 409,
  // The instance lost the lead while carrying the command out: nothing was written; ask again.
  AVIARY_STORE_FENCED: 503,
  // The database is down or did not answer within the store's deadline: nothing to fix in the
  // request; ask again (this instance or another) once it answers.
  AVIARY_STORE_UNAVAILABLE: 503,
  AVIARY_TOO_MANY_STREAMS: 503,
  AVIARY_TOO_MANY_STREAMS_FOR_TOKEN: 429,
  AVIARY_UNSUPPORTED_MEDIA_TYPE: 415,
};

/** The admin server's body limit, named in the 413 problem. */
export const BODY_LIMIT = 1_048_576;

/**
 * Fastify's own refusals (before a route runs), said in Aviary's words and codes: a client
 * branches on one set of codes, and the URL is never echoed.
 */
const FRAMEWORK_PROBLEMS: Record<string, { status: number; code: string; detail: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: "AVIARY_BODY_TOO_LARGE",
    detail: `the request body is larger than the admin API's limit of ${BODY_LIMIT} bytes (1 MiB)`,
  },
  FST_ERR_MAX_PARAM_LENGTH: {
    status: 414,
    code: "AVIARY_URI_TOO_LONG",
    detail: "a path segment is longer than the admin API accepts (200 characters)",
  },
  FST_ERR_BAD_URL: {
    status: 400,
    code: "AVIARY_BAD_REQUEST",
    detail: "the URL path is not valid percent-encoding",
  },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    code: "AVIARY_BAD_REQUEST",
    detail: "body: not valid JSON",
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    code: "AVIARY_BAD_REQUEST",
    detail: "body: empty, but Content-Type says application/json",
  },
  // Any body whose Content-Type is not JSON, or that has none (see body.ts).
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: "AVIARY_UNSUPPORTED_MEDIA_TYPE",
    detail: `the admin API takes a request body as ${ACCEPTED_BODY} only: send Content-Type: application/json`,
  },
};

export interface Problem {
  /** `urn:aviary:problem:<code without AVIARY_, in kebab case>`: the code as a URI. */
  type: string;
  /** The status's reason phrase ("Not Found"), as RFC 9457 suggests for people. */
  title: string;
  status: number;
  detail: string;
  code: string;
  /** Every problem of an invalid spec, with file:line:column. */
  problems?: unknown[];
}

/** Every problem the admin server sends is made here, so type, title and code agree. */
export function problem(
  status: number,
  code: string,
  detail: string,
  extra: Pick<Problem, "problems"> = {},
): Problem {
  return {
    type: `urn:aviary:problem:${code
      .replace(/^AVIARY_/, "")
      .toLowerCase()
      .replace(/_/g, "-")}`,
    title: STATUS_CODES[status] ?? "Error",
    status,
    detail,
    code,
    ...extra,
  };
}

export function problemOf(err: unknown): Problem {
  if (err instanceof AviaryError) {
    // A leader's refusal relayed by a follower (cluster/commands.ts) keeps the leader's status
    // and problems; otherwise command errors (a rollout in the wrong state) are conflicts.
    const relayed = err as { status?: unknown; details?: unknown };
    const status =
      typeof relayed.status === "number" ? relayed.status : (STATUS_BY_CODE[err.code] ?? 409);
    const problems =
      err instanceof SpecError
        ? err.problems
        : Array.isArray(relayed.details)
          ? (relayed.details as unknown[])
          : undefined;
    return problem(status, err.code, err.message, problems ? { problems } : {});
  }
  const fe = err as FastifyError;
  const framework = FRAMEWORK_PROBLEMS[fe.code];
  if (framework !== undefined) return problem(framework.status, framework.code, framework.detail);
  if (fe.validation !== undefined || (fe.statusCode !== undefined && fe.statusCode < 500))
    return problem(fe.statusCode ?? 400, "AVIARY_BAD_REQUEST", fe.message);
  return problem(500, "AVIARY_INTERNAL", "internal error; see the server log");
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.code(problem.status).type("application/problem+json").send(problem);
}

export function errorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const problem = problemOf(err);
  // The error and the route only: never the request, whose headers carry the token.
  const route = `${req.method} ${req.routeOptions.url ?? "(no route)"}`;
  if (problem.code === "AVIARY_INTERNAL") req.log.error({ err, route }, "request failed");
  else if (problem.status >= 500) req.log.warn({ code: problem.code, route }, problem.detail);
  return sendProblem(reply, problem);
}
