/**
 * What went wrong with an upstream, from undici's and Node's error codes: which metric it
 * counts as, what the client is told, and whether another target may be tried.
 *
 * @module
 */

import type { FailureKind } from "./metrics/registry.js";

export interface UpstreamFailure {
  kind: FailureKind;
  /** Status for the client when no response has started. */
  status: number;
  /** Short body for the client: what happened, never where or why internally. */
  message: string;
  /** Safe to retry on another target: nothing reached the upstream. */
  retryable: boolean;
  code: string;
}

const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EADDRNOTAVAIL",
]);

/** Classifies an error from an upstream exchange (the client having left is told apart by the caller). */
export function classifyUpstreamError(err: Error & { code?: string }): UpstreamFailure {
  const code = err.code ?? "UNKNOWN";
  if (code === "UND_ERR_CONNECT_TIMEOUT") {
    return {
      kind: "timeout",
      status: 504,
      message: "upstream connect timed out\n",
      retryable: true,
      code,
    };
  }
  if (code === "UND_ERR_HEADERS_TIMEOUT") {
    return {
      kind: "timeout",
      status: 504,
      message: "upstream response timed out\n",
      retryable: false,
      code,
    };
  }
  if (code === "UND_ERR_BODY_TIMEOUT") {
    return {
      kind: "timeout",
      status: 504,
      message: "upstream went idle\n",
      retryable: false,
      code,
    };
  }
  if (CONNECT_CODES.has(code)) {
    return {
      kind: "connect",
      status: 502,
      message: "upstream unavailable\n",
      retryable: true,
      code,
    };
  }
  return {
    kind: "reset",
    status: 502,
    message: "upstream connection failed\n",
    retryable: false,
    code,
  };
}
