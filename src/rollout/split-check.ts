/**
 * Did the engine split requests as it was told? Read-back says what the engine holds; this
 * says what it did: the canary's measured share of requests against its weight, with a
 * tolerance that shrinks with the sample. Argo verifies weights only on AWS ALB, Flagger never;
 * Aviary checks every engine, from the same per-version counts the analysis reads.
 *
 * @module
 */

import type { TrafficState } from "./types.js";

/** Requests each version got in [from, to) (stable and canary roles; mirror copies excluded). */
export type SplitReader = (service: string, version: string, from: number, to: number) => number;

export interface SplitVerdict {
  ok: boolean;
  sentence: string;
  data: { requests: number; canaryShare: number; weight: number; tolerance: number };
}

/** Requests in flight when the state changed, and the engine's own switch, are left out for this long. */
export const SPLIT_LAG_MS = 5_000;
/** The window read: long enough for a sample, short enough to follow the steps. */
export const SPLIT_WINDOW_MS = 60_000;
/** Fewer requests than this tell nothing either way. */
export const SPLIT_MIN_REQUESTS = 200;
/** Standard errors allowed, and an absolute slack for sticky users (a heavy user moves whole). */
const Z = 5;
const SLACK = 0.02;

/**
 * The verdict on the service's split since `recordedAt`, or undefined when there is too little
 * to judge (too soon, too few requests). Routes send matching requests to a version whatever the
 * weight, so a service with any (`hasRoutes`) is not judged on its share.
 */
export function splitVerdict(
  read: SplitReader,
  service: string,
  state: TrafficState,
  recordedAt: number,
  now: number,
  hasRoutes: boolean,
): SplitVerdict | undefined {
  if (hasRoutes || state.headerRoutes.length > 0) return undefined;
  const from = Math.max(recordedAt + SPLIT_LAG_MS, now - SPLIT_WINDOW_MS);
  if (now - from < 10_000) return undefined;
  const stable = read(service, state.stable.version, from, now);
  const canaryVersion = state.canary?.version;
  const canary = canaryVersion === undefined ? 0 : read(service, canaryVersion, from, now);
  const n = stable + canary;
  if (n < SPLIT_MIN_REQUESTS) return undefined;
  const p = state.canary === null ? 0 : state.weight / 100;
  const share = canary / n;
  const tolerance = Z * Math.sqrt((p * (1 - p)) / n) + SLACK;
  const ok = Math.abs(share - p) <= tolerance;
  const pct = (x: number) => `${Math.round(x * 1000) / 10} %`;
  return {
    ok,
    sentence: `the canary got ${pct(share)} of ${n} requests in the last ${Math.round((now - from) / 1000)} s at weight ${pct(p)} (tolerance ±${pct(tolerance)})`,
    data: { requests: n, canaryShare: share, weight: p * 100, tolerance },
  };
}
