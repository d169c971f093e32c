/**
 * Upper bounds of the Prometheus request-duration histogram. The recorder counts into them
 * directly, in ms, so a scrape only has to accumulate and print.
 *
 * @module
 */

/** `le` bounds in seconds, 5 ms to 10 s (+Inf is implied). */
export const DURATION_BOUNDS_SECONDS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** The same bounds in ms, as the recorder compares them against each latency. */
export const DURATION_BOUNDS_MS = Float64Array.from(DURATION_BOUNDS_SECONDS, (s) => s * 1000);
