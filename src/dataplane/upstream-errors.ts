/**
 * Whose fault a failed exchange is, from undici's and Node's error codes. Three kinds are kept
 * apart everywhere (answer, metrics, outlier ejection, retries, logs):
 *
 * - **the target failed** (connect refused, timeout, reset): counted in the version's metrics
 *   (the analysis reads them) and, mostly, toward the target's ejection;
 * - **the request was bad** (undici refuses it locally, the upload stalled): Aviary answers it
 *   itself (400, 408), counts it in `aviary_router_rejected_requests_total`, never in the
 *   version's metrics, never against a target — else any anonymous client could eject a canary
 *   and abort its rollout with a few malformed requests;
 * - **the client left**: told apart by the caller, which sees the client's connection closed.
 *
 * @module
 */

import type { FailureKind } from "./metrics/registry.js";
import type { RejectReason } from "./rejections.js";

/** The target (or the network to it) failed. */
export interface UpstreamFailure {
  blame: "target";
  kind: FailureKind;
  /** Status for the client when no response has started. */
  status: number;
  /** Short body for the client: what happened, never where or why internally. */
  message: string;
  /** Safe to retry on another target: nothing reached the upstream. */
  retryable: boolean;
  code: string;
}

/** The request itself is at fault: Aviary answers it and no target or version is blamed. */
export interface RequestFault {
  blame: "request";
  reason: RejectReason;
  status: number;
  message: string;
  code: string;
}

export type ExchangeFailure = UpstreamFailure | RequestFault;

/** Error code of the abort Aviary makes when a client's upload stalls (see the router). */
export const BODY_TIMEOUT_CODE = "AVIARY_REQUEST_BODY_TIMEOUT";

const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EADDRNOTAVAIL",
]);

/**
 * Errors undici raises before or while writing the request, about the request itself: a
 * header it will not send (a second Host, an invalid value), a method or path it refuses, a
 * body that does not match its Content-Length, a body stream that ended early. None of these
 * says anything about the target.
 */
const REQUEST_CODES = new Set([
  "UND_ERR_INVALID_ARG",
  "UND_ERR_NOT_SUPPORTED",
  "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH",
  "UND_ERR_ABORTED",
]);

const BAD_REQUEST: RequestFault = {
  blame: "request",
  reason: "bad_request",
  status: 400,
  message: "bad request\n",
  code: "UND_ERR_INVALID_ARG",
};

/** Classifies an error from an upstream exchange (the client having left is told apart by the caller). */
export function classifyUpstreamError(err: Error & { code?: string }): ExchangeFailure {
  const code = err.code ?? "UNKNOWN";
  if (REQUEST_CODES.has(code))
    return code === BAD_REQUEST.code ? BAD_REQUEST : { ...BAD_REQUEST, code };
  if (code === BODY_TIMEOUT_CODE) {
    return {
      blame: "request",
      reason: "body_timeout",
      status: 408,
      message: "request body timed out\n",
      code,
    };
  }
  if (code === "UND_ERR_CONNECT_TIMEOUT") {
    return {
      blame: "target",
      kind: "timeout",
      status: 504,
      message: "upstream connect timed out\n",
      retryable: true,
      code,
    };
  }
  if (code === "UND_ERR_HEADERS_TIMEOUT") {
    return {
      blame: "target",
      kind: "timeout",
      status: 504,
      message: "upstream response timed out\n",
      retryable: false,
      code,
    };
  }
  if (code === "UND_ERR_BODY_TIMEOUT") {
    return {
      blame: "target",
      kind: "timeout",
      status: 504,
      message: "upstream went idle\n",
      retryable: false,
      code,
    };
  }
  if (CONNECT_CODES.has(code)) {
    return {
      blame: "target",
      kind: "connect",
      status: 502,
      message: "upstream unavailable\n",
      retryable: true,
      code,
    };
  }
  return {
    blame: "target",
    kind: "reset",
    status: 502,
    message: "upstream connection failed\n",
    retryable: false,
    code,
  };
}
