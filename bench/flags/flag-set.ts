/**
 * The flag both servers evaluate, and what each must answer. Aviary: boolean `new-checkout`,
 * `on` for `user-type: beta-tester`, otherwise a 50 % rollout on the targeting key. The Unleash
 * toggle says the same with two strategies (either one enables it): a `default` strategy with
 * the constraint `user-type IN [beta-tester]`, and a `flexibleRollout` at 50 % on `userId`.
 * Aviary's 10,000 buckets refine Unleash's 100 (`src/dataplane/hash.ts`), so at 50 % both
 * enable the same users; still, each server is checked against its own rule, computed here
 * independently of it (Unleash's from its client specification).
 *
 * The load's users are `user-<n>` for consecutive n, every tenth a beta tester, so the number
 * of `on` answers over a run can be predicted exactly from the range of n sent.
 *
 * @module
 */

import { murmur3 } from "../../src/dataplane/hash.js";
import { compileFlag, type EvaluationContext } from "../../src/flags/evaluate.js";
import { Flag } from "../../src/flags/schema.js";

export const FLAG_KEY = "new-checkout";
/** Flags in the bulk evaluation's set: `new-checkout` and nine like it under other keys. */
export const BULK_FLAGS = 10;
export const ROLLOUT_PERCENT = 50;

/** The spec's `flags:` entry for one flag of the set. */
export function aviaryFlag(key: string) {
  return {
    key,
    type: "boolean" as const,
    variants: { on: true, off: false },
    defaultVariant: "off",
    rules: [
      {
        name: "beta testers",
        when: [{ attribute: "user-type", equals: "beta-tester" }],
        variant: "on",
      },
    ],
    rollout: { variant: "on", percent: ROLLOUT_PERCENT },
  };
}

export const bulkKeys: readonly string[] = [
  FLAG_KEY,
  ...Array.from({ length: BULK_FLAGS - 1 }, (_, i) => `flag-${i + 1}`),
];

/** The Unleash feature (client API shape), as the proxy's bootstrap takes it. */
export const unleashToggle = {
  name: FLAG_KEY,
  enabled: true,
  type: "release",
  project: "default",
  stale: false,
  impressionData: false,
  variants: [],
  strategies: [
    {
      name: "default",
      parameters: {},
      constraints: [
        {
          contextName: "user-type",
          operator: "IN",
          values: ["beta-tester"],
          caseInsensitive: false,
          inverted: false,
        },
      ],
    },
    {
      name: "flexibleRollout",
      parameters: { rollout: String(ROLLOUT_PERCENT), stickiness: "userId", groupId: FLAG_KEY },
      constraints: [],
    },
  ],
};

export function userKey(n: number): string {
  return `user-${n}`;
}

export function userType(n: number): string {
  return n % 10 === 0 ? "beta-tester" : "customer";
}

export function contextOf(n: number): EvaluationContext {
  return { targetingKey: userKey(n), "user-type": userType(n) };
}

/** Aviary's answer for user n, from the compiled evaluator (the server compiles the same). */
export function aviaryExpectation(keys: readonly string[]): (n: number) => number {
  const flags = keys.map((k) => compileFlag(Flag.parse(aviaryFlag(k))));
  return (n) => {
    const ctx = contextOf(n);
    let on = 0;
    for (const f of flags) if (f.evaluate(ctx).value === true) on++;
    return on;
  };
}

/**
 * Unleash's answer for user n, from its client specification: a flexible rollout enables a
 * user whose `murmur3("<groupId>:<userId>") % 100 + 1` is at most the percentage.
 */
export function unleashExpectation(n: number): number {
  if (userType(n) === "beta-tester") return 1;
  return (murmur3(`${FLAG_KEY}:${userKey(n)}`) % 100) + 1 <= ROLLOUT_PERCENT ? 1 : 0;
}

/** The sum of `expect(n)` for n in (from, to]. */
export function expectedOn(expect: (n: number) => number, from: number, to: number): number {
  let on = 0;
  for (let n = from + 1; n <= to; n++) on += expect(n);
  return on;
}
