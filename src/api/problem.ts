/**
 * Errors as `application/problem+json` (RFC 9457) with a stable `code`, mapped in one place.
 * Clients get the message of errors Aviary meant to say, never a stack or an internal detail.
 *
 * @module
 */

import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { AviaryError } from "../errors.js";
import { SpecError } from "../spec/load.js";

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
  AVIARY_TOO_MANY_STREAMS: 503,
};

/** The admin server's body limit, named in the 413 problem. */
export const BODY_LIMIT = 1_048_576;

/** Fastify's own refusals, said in Aviary's words (and without echoing the URL). */
const FRAMEWORK_PROBLEMS: Record<string, Pick<Problem, "title" | "status" | "detail" | "code">> = {
  FST_ERR_CTP_BODY_TOO_LARGE: {
    title: "Payload too large",
    status: 413,
    detail: `the request body is larger than the admin API's limit of ${BODY_LIMIT} bytes (1 MiB)`,
    code: "AVIARY_BODY_TOO_LARGE",
  },
  FST_ERR_MAX_PARAM_LENGTH: {
    title: "URI too long",
    status: 414,
    detail: "a path segment is longer than the admin API accepts (200 characters)",
    code: "AVIARY_URI_TOO_LONG",
  },
  FST_ERR_BAD_URL: {
    title: "Bad request",
    status: 400,
    detail: "the URL path is not valid percent-encoding",
    code: "AVIARY_BAD_REQUEST",
  },
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  /** Every problem of an invalid spec, with file:line:column. */
  problems?: unknown[];
}

export function problemOf(err: unknown): Problem {
  if (err instanceof AviaryError) {
    // Command errors (a rollout in the wrong state for the verb) are conflicts.
    const status = STATUS_BY_CODE[err.code] ?? 409;
    return {
      type: `https://aviary.dev/problems/${err.code.toLowerCase().replace(/_/g, "-")}`,
      title: err.code,
      status,
      detail: err.message,
      code: err.code,
      ...(err instanceof SpecError ? { problems: err.problems } : {}),
    };
  }
  const fe = err as FastifyError;
  const framework = FRAMEWORK_PROBLEMS[fe.code];
  if (framework !== undefined) {
    return {
      type: "about:blank",
      title: framework.title,
      status: framework.status,
      detail: framework.detail,
      code: framework.code,
    };
  }
  if (fe.validation !== undefined || (fe.statusCode !== undefined && fe.statusCode < 500)) {
    return {
      type: "about:blank",
      title: "Bad request",
      status: fe.statusCode ?? 400,
      detail: fe.message,
      code: fe.code ?? "AVIARY_BAD_REQUEST",
    };
  }
  return {
    type: "about:blank",
    title: "Internal error",
    status: 500,
    detail: "internal error; see the server log",
    code: "AVIARY_INTERNAL",
  };
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
