/**
 * The spec of the demo's flag chapter (`aviary demo --flags`): the shop at v1 with no strategy
 * (nothing is deployed in this chapter), an OFREP listener, and the flag `new-checkout` rolled
 * out in steps — beta testers first, then 10 % and 50 % of users, each step guarded by an
 * analysis of the error rate the shop reports per variant — with the intervals as short as the
 * deployment story's, so the chapter ends within about a minute.
 *
 * @module
 */

import type { SpecInput } from "../spec/schema.js";
import { CHECKOUT_FLAG } from "./sample-service.js";

export interface FlagDemoSpecOptions {
  listen: string;
  admin: string;
  /** The OFREP listener's address (the shop's OpenFeature provider talks to it). */
  ofrep: string;
  /** The shop's only version (v1). */
  stableUrl: string;
}

export function flagDemoSpec(o: FlagDemoSpecOptions): SpecInput {
  const checkErrors = { analysis: { templates: ["checkout-errors"] } };
  return {
    listen: o.listen,
    admin: o.admin,
    ofrep: { listen: o.ofrep },
    services: [
      {
        name: "shop",
        match: { pathPrefix: "/shop" },
        stable: { version: "v1", targets: [o.stableUrl] },
        stickiness: { header: "x-user-id" },
      },
    ],
    flags: [
      {
        key: CHECKOUT_FLAG,
        type: "boolean",
        description: "The one-page checkout (it fails one request in five).",
        variants: { on: true, off: false },
        defaultVariant: "off",
        rules: [
          {
            name: "beta testers first",
            when: [{ attribute: "user-type", equals: "beta-tester" }],
            variant: "on",
          },
        ],
        rollout: { variant: "on", control: "off" },
        strategy: {
          steps: [{ setWeight: 10 }, checkErrors, { setWeight: 50 }, checkErrors],
          promotion: { hold: "5s" },
        },
      },
    ],
    analysisTemplates: [
      {
        name: "checkout-errors",
        metrics: [
          {
            // For flag:new-checkout, requests are the shop's exposures and errors its `error`
            // events, per variant: `on` is judged against `off`.
            name: "error-rate",
            interval: "2s",
            provider: { builtin: { signal: "errorRate" } },
            judge: { sequential: { alpha: 0.001, minBakeTime: "10s" } },
          },
        ],
      },
    ],
  };
}
