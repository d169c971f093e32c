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
  AVIARY_SPEC_INVALID: 400,
  AVIARY_BAD_REQUEST: 400,
  AVIARY_UNAUTHORIZED: 401,
  AVIARY_STORE_STALE_WRITE: 409,
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
  if (problem.status >= 500) req.log.error({ err }, "request failed");
  return sendProblem(reply, problem);
}
