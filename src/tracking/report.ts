/**
 * What one instance's tracking endpoint counted, on the wire between instances (each instance
 * upserts its report in the store; see `shared.ts`). Per (flag, variant): the seconds of
 * `[from, to]` that counted anything, each with its exposures, error events, the latency
 * events' sketch (a router bucket's row, `src/fleet/windows.ts`) and business events by name.
 *
 * A report repeats the last seconds of the previous ones, and a second reported again replaces
 * what was known of it (an instance's counts of a second only grow until the second is over),
 * so a lost report loses nothing and a repeated one counts nothing twice.
 *
 * @module
 */

import { z } from "zod";
import { BUCKET_ROW_LENGTH } from "../fleet/windows.js";

/** How many seconds back each report reaches: five share periods of 2 s. */
export const TRACKING_HORIZON_S = 10;

/** Most seconds one report may span, and most series and event names it may carry. */
const MAX_SECONDS = 60;
const MAX_SERIES = 2_000;
const MAX_NAMES = 256;

export interface ReportedFlagSecond {
  /** Epoch second. */
  s: number;
  /** Exposures. */
  x: number;
  /** Error events. */
  e: number;
  /** Latency events, as a bucket row (absent: none). */
  l?: number[];
  /** Business events by name (absent: none). */
  n?: Record<string, number>;
}

export interface ReportedFlagSeries {
  flag: string;
  variant: string;
  seconds: ReportedFlagSecond[];
}

export interface TrackingWindows {
  v: 1;
  /** First and last epoch second covered, inclusive. */
  from: number;
  to: number;
  series: ReportedFlagSeries[];
}

const Count = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

export const TrackingWindowsSchema = z
  .strictObject({
    v: z.literal(1),
    from: z.int().min(0),
    to: z.int().min(0),
    series: z
      .array(
        z.strictObject({
          flag: z.string().min(1).max(200),
          variant: z.string().min(1).max(200),
          seconds: z
            .array(
              z.strictObject({
                s: z.int().min(0),
                x: Count,
                e: Count,
                l: z
                  .array(z.number())
                  .min(BUCKET_ROW_LENGTH.min)
                  .max(BUCKET_ROW_LENGTH.max)
                  .optional(),
                n: z
                  .record(z.string().min(1).max(64), Count)
                  .refine((n) => Object.keys(n).length <= MAX_NAMES, {
                    message: `at most ${MAX_NAMES} event names`,
                  })
                  .optional(),
              }),
            )
            .max(MAX_SECONDS),
        }),
      )
      .max(MAX_SERIES),
  })
  .refine((w) => w.to >= w.from - 1 && w.to - w.from < MAX_SECONDS, {
    message: `from and to must be seconds with from ≤ to + 1, at most ${MAX_SECONDS} apart`,
  });
