/**
 * What the load generator (`load.ts`) reports when it stops: one line `LOAD {json}`.
 *
 * @module
 */

export const LOAD_MARK = "LOAD ";

export interface LoadResult {
  requests: number;
  /** 2xx answers written by the stable and by the canary upstream. */
  stable: number;
  canary: number;
  non2xx: number;
  /** Socket errors and timeouts. */
  errors: number;
  /** The first few failures, for the report. */
  samples: string[];
  seconds: number;
  /** Latency of the answered requests, from the send to the end of the body. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}
