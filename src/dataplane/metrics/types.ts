/**
 * The shapes the proxy records through and the analysis reads back. They live apart from the
 * registry so the recorder and the window code can share them without importing each other.
 *
 * @module
 */

import type { DDSketch } from "@datadog/sketches-js";

/**
 * Why a request reached a version: its live traffic as stable or canary (the role it had at the
 * time), or a mirrored copy whose response nobody sees.
 */
export type Role = "stable" | "canary" | "mirror";

/** How a request failed to get a usable response. */
export type FailureKind = "connect" | "timeout" | "reset";

/** What the proxy calls once per request; bound to one (service, version, role) at config time. */
export interface Recorder {
  /** A response was received from the upstream and fully relayed (any status code). latencyMs: request start → response end. */
  response(status: number, latencyMs: number): void;
  /** No usable response: connect error, timeout, or upstream reset. Counts as an error. */
  failure(kind: FailureKind, latencyMs: number): void;
}

/** A window of one version's traffic: epoch ms, [from, to). */
export interface WindowQuery {
  service: string;
  version: string;
  /** Default: every role but "mirror", so a version keeps its history across promotion. */
  role?: Role | Role[];
  from: number;
  to: number;
}

/** Counts of responses by status class. */
export interface StatusClassCounts {
  "1xx": number;
  "2xx": number;
  "3xx": number;
  "4xx": number;
  "5xx": number;
}

/** Counts of failures by kind. */
export interface FailureCounts {
  connect: number;
  timeout: number;
  reset: number;
}

/** Latency figures of a window in ms; NaN when the window holds no request. */
export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  max: number;
}

/** What a window of one version's traffic looked like. */
export interface WindowSummary {
  service: string;
  version: string;
  /** The window actually covered: `from` is raised to the oldest second still held. */
  from: number;
  to: number;
  /** (to - from) / 1000; 0 when nothing of the window is held. */
  seconds: number;
  /** responses + failures */
  requests: number;
  responses: StatusClassCounts;
  failures: FailureCounts;
  /** 5xx + all failures */
  errors: number;
  /** errors / requests, NaN when requests == 0 (never a silent 0) */
  errorRate: number;
  /** requests / seconds, NaN when seconds == 0 */
  rps: number;
  /** Over every request, failures included: the time the client waited. */
  latencyMs: LatencySummary;
  /** Merged latency sketch of the window (ms, relative accuracy 0.01), for the analysis judges. */
  sketch: DDSketch;
}
