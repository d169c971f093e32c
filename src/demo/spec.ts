/**
 * The demo's spec: one service, `shop`, with the strategy a real team might use — beta testers
 * first, then 5 → 25 → 50 % of users and promotion — with the pauses shortened so the whole
 * story fits in a couple of minutes, and a background analysis of the router's own error rate
 * and latency, and of the shop's orders per session, that rolls a bad canary back by itself.
 *
 * @module
 */

import type { SpecInput } from "../spec/schema.js";

export interface DemoSpecOptions {
  listen: string;
  admin: string;
  /** The stable version's address (v1). */
  stableUrl: string;
  /** The shop's business numbers per version (`conversions.ts`). */
  statsUrl: string;
}

/** Requests slower than this count as slow for the latency judge (v2 is about 60 ms slower). */
export const SLOW_MS = 80;

export function demoSpec(o: DemoSpecOptions): SpecInput {
  return {
    listen: o.listen,
    admin: o.admin,
    services: [
      {
        name: "shop",
        match: { pathPrefix: "/shop" },
        stable: { version: "v1", targets: [o.stableUrl] },
        stickiness: { header: "x-user-id" },
        strategy: {
          steps: [
            {
              setHeaderRoute: {
                name: "beta-testers",
                match: { headers: { "user-type": { exact: "beta-tester" } } },
              },
            },
            { setWeight: 5 },
            { pause: { duration: "30s" } },
            { setWeight: 25 },
            { pause: { duration: "15s" } },
            { setWeight: 50 },
            { pause: { duration: "15s" } },
          ],
          analysis: { templates: ["golden-signals"] },
          promotion: { hold: "5s" },
        },
      },
    ],
    analysisTemplates: [
      {
        name: "golden-signals",
        metrics: [
          {
            name: "error-rate",
            interval: "2s",
            provider: { builtin: { signal: "errorRate" } },
            // α = 0.001: a healthy canary is rolled back by chance about once in a thousand runs.
            judge: { sequential: { alpha: 0.001, minBakeTime: "20s" } },
          },
          {
            name: "latency",
            interval: "2s",
            provider: { builtin: { signal: "latencyP99" } },
            judge: { sequential: { alpha: 0.001, minBakeTime: "20s", slowThresholdMs: SLOW_MS } },
          },
          {
            // A business metric: orders per session must not fall (v2 also converts fewer users).
            name: "orders",
            interval: "2s",
            provider: {
              web: {
                url: `${o.statsUrl}/stats/{{canaryVersion}}?from={{from}}&to={{to}}`,
                stableUrl: `${o.statsUrl}/stats/{{stableVersion}}?from={{from}}&to={{to}}`,
                counts: { events: "$.orders", requests: "$.sessions" },
              },
            },
            judge: { sequential: { alpha: 0.001, minBakeTime: "20s", direction: "decrease" } },
          },
        ],
      },
    ],
  };
}
