import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { BUCKETS, bucketerFor } from "../dataplane/hash.js";
import type { Condition } from "./conditions.js";
import { compileFlag, type EvaluationContext, evaluate } from "./evaluate.js";
import { Flag, type FlagInput } from "./schema.js";

function flag(over: Partial<FlagInput> = {}): Flag {
  return Flag.parse({
    key: "new-checkout",
    type: "boolean",
    variants: { on: true, off: false },
    defaultVariant: "off",
    ...over,
  });
}

/** Whether one condition holds for one context, through a one-rule flag. */
function holds(condition: Condition, ctx: EvaluationContext): boolean {
  const f = flag({ rules: [{ when: [condition], variant: "on" }] });
  return evaluate(f, ctx).variant === "on";
}

describe("operators", () => {
  const cases: Array<[Condition, EvaluationContext, boolean]> = [
    [{ attribute: "user-type", equals: "beta-tester" }, { "user-type": "beta-tester" }, true],
    [{ attribute: "user-type", equals: "beta-tester" }, { "user-type": "staff" }, false],
    [{ attribute: "user-type", equals: "beta-tester" }, {}, false],
    [{ attribute: "age", equals: 42 }, { age: 42 }, true],
    [{ attribute: "age", equals: 42 }, { age: "42" }, false],
    [{ attribute: "beta", equals: true }, { beta: true }, true],
    [{ attribute: "beta", equals: true }, { beta: "true" }, false],
    [{ attribute: "plan", notEquals: "free" }, { plan: "pro" }, true],
    [{ attribute: "plan", notEquals: "free" }, { plan: "free" }, false],
    [{ attribute: "plan", notEquals: "free" }, {}, false],
    [{ attribute: "plan", notEquals: "free" }, { plan: null }, false],
    [{ attribute: "country", in: ["DE", "FR"] }, { country: "FR" }, true],
    [{ attribute: "country", in: ["DE", "FR"] }, { country: "US" }, false],
    [{ attribute: "country", in: ["DE", "FR"] }, {}, false],
    [{ attribute: "tier", in: [1, 2] }, { tier: 2 }, true],
    [{ attribute: "tier", in: [1, 2] }, { tier: "2" }, false],
    [{ attribute: "country", notIn: ["US"] }, { country: "DE" }, true],
    [{ attribute: "country", notIn: ["US"] }, { country: "US" }, false],
    [{ attribute: "country", notIn: ["US"] }, {}, false],
    [{ attribute: "email", prefix: "admin@" }, { email: "admin@example.com" }, true],
    [{ attribute: "email", prefix: "admin@" }, { email: "x-admin@example.com" }, false],
    [{ attribute: "email", prefix: "admin@" }, { email: 5 }, false],
    [{ attribute: "email", suffix: "@example.com" }, { email: "a@example.com" }, true],
    [{ attribute: "email", suffix: "@example.com" }, { email: "a@example.org" }, false],
    [{ attribute: "path", contains: "/beta/" }, { path: "/x/beta/y" }, true],
    [{ attribute: "path", contains: "/beta/" }, { path: "/x/betay" }, false],
    [{ attribute: "email", regex: "^[^@]+@(a|b)\\.com$" }, { email: "me@b.com" }, true],
    [{ attribute: "email", regex: "^[^@]+@(a|b)\\.com$" }, { email: "me@c.com" }, false],
    [{ attribute: "email", regex: "(?i)^ADMIN" }, { email: "admin@x" }, true],
    [{ attribute: "email", regex: "x" }, { email: 1 }, false],
    [{ attribute: "appVersion", semverEq: "2.1.0" }, { appVersion: "2.1.0" }, true],
    [{ attribute: "appVersion", semverEq: "2.1.0" }, { appVersion: "2.1.1" }, false],
    [{ attribute: "appVersion", semverLt: "2.0.0" }, { appVersion: "1.9.9" }, true],
    [{ attribute: "appVersion", semverLt: "2.0.0" }, { appVersion: "2.0.0-rc.1" }, true],
    [{ attribute: "appVersion", semverLt: "2.0.0" }, { appVersion: "2.0.0" }, false],
    [{ attribute: "appVersion", semverLe: "2.0.0" }, { appVersion: "2.0.0" }, true],
    [{ attribute: "appVersion", semverLe: "2.0.0" }, { appVersion: "2.0.1" }, false],
    [{ attribute: "appVersion", semverGt: "2.0.0" }, { appVersion: "10.0.0" }, true],
    [{ attribute: "appVersion", semverGt: "2.0.0" }, { appVersion: "2.0.0" }, false],
    [{ attribute: "appVersion", semverGe: "2.0.0" }, { appVersion: "2.0.0" }, true],
    [{ attribute: "appVersion", semverGe: "2.0.0" }, { appVersion: "1.99.0" }, false],
    [{ attribute: "appVersion", semverGe: "2.0.0" }, { appVersion: "not-a-version" }, false],
    [{ attribute: "appVersion", semverGe: "2.0.0" }, { appVersion: 3 }, false],
    [{ attribute: "age", eq: 18 }, { age: 18 }, true],
    [{ attribute: "age", eq: 18 }, { age: 19 }, false],
    [{ attribute: "age", lt: 18 }, { age: 17.5 }, true],
    [{ attribute: "age", lt: 18 }, { age: 18 }, false],
    [{ attribute: "age", le: 18 }, { age: 18 }, true],
    [{ attribute: "age", le: 18 }, { age: 18.01 }, false],
    [{ attribute: "age", gt: 18 }, { age: 19 }, true],
    [{ attribute: "age", gt: 18 }, { age: 18 }, false],
    [{ attribute: "age", ge: 18 }, { age: 18 }, true],
    [{ attribute: "age", ge: 18 }, { age: "20" }, false],
    [{ attribute: "targetingKey", in: ["user-1"] }, { targetingKey: "user-1" }, true],
  ];
  for (const [condition, ctx, want] of cases) {
    it(`${JSON.stringify(condition)} on ${JSON.stringify(ctx)} is ${want}`, () => {
      assert.equal(holds(condition, ctx), want);
    });
  }

  it("a regex runs in linear time: a catastrophic pattern for backtracking engines is quick", () => {
    const f = compileFlag(
      flag({ rules: [{ when: [{ attribute: "v", regex: "^(a+)+$" }], variant: "on" }] }),
    );
    // A backtracking engine would not finish this in the test's lifetime (2^5000 splits);
    // RE2 answers in time linear in the input, so reaching the assertion is the check.
    assert.equal(f.evaluate({ v: `${"a".repeat(5000)}!` }).variant, "off");
  });
});

describe("evaluate", () => {
  it("a flag without rules or rollout is STATIC", () => {
    assert.deepEqual(evaluate(flag(), {}), { value: false, variant: "off", reason: "STATIC" });
  });

  it("all conditions of a rule must hold", () => {
    const f = flag({
      rules: [
        {
          when: [
            { attribute: "user-type", equals: "beta-tester" },
            { attribute: "country", in: ["DE"] },
          ],
          variant: "on",
        },
      ],
    });
    assert.equal(evaluate(f, { "user-type": "beta-tester", country: "DE" }).variant, "on");
    assert.equal(evaluate(f, { "user-type": "beta-tester", country: "FR" }).variant, "off");
    assert.equal(evaluate(f, { country: "DE" }).reason, "DEFAULT");
  });

  it("rules are tried in order; the first match decides, and names itself in metadata", () => {
    const f = flag({
      type: "string",
      variants: { a: "A", b: "B", c: "C" },
      defaultVariant: "c",
      rules: [
        { name: "staff", when: [{ attribute: "email", suffix: "@corp.example" }], variant: "a" },
        { when: [{ attribute: "email", prefix: "admin" }], variant: "b" },
      ],
    });
    const both = evaluate(f, { email: "admin@corp.example" });
    assert.deepEqual(both, {
      value: "A",
      variant: "a",
      reason: "TARGETING_MATCH",
      metadata: { rule: "staff" },
    });
    assert.deepEqual(evaluate(f, { email: "admin@else.example" }).metadata, { rule: 1 });
    assert.deepEqual(evaluate(f, { email: "x@else.example" }), {
      value: "C",
      variant: "c",
      reason: "DEFAULT",
    });
  });

  it("the beta-tester segment gets the new variant first; everyone else is rolled out by percent", () => {
    const f = flag({
      rules: [{ when: [{ attribute: "user-type", equals: "beta-tester" }], variant: "on" }],
      rollout: { variant: "on", percent: 0 },
    });
    assert.equal(evaluate(f, { targetingKey: "u1", "user-type": "beta-tester" }).variant, "on");
    assert.deepEqual(evaluate(f, { targetingKey: "u1" }), {
      value: false,
      variant: "off",
      reason: "SPLIT",
    });
  });

  it("disabled serves the default variant with reason DISABLED, whatever the rules say", () => {
    const f = flag({
      disabled: true,
      rules: [{ when: [{ attribute: "user-type", equals: "beta-tester" }], variant: "on" }],
      rollout: { variant: "on", percent: 100 },
      metadata: { owner: "checkout-team" },
    });
    assert.deepEqual(evaluate(f, { "user-type": "beta-tester" }), {
      value: false,
      variant: "off",
      reason: "DISABLED",
      metadata: { owner: "checkout-team" },
    });
  });

  it("a rollout serves its variant below percent × 100 buckets, its control above", () => {
    const f = flag({ rollout: { variant: "on", percent: 37.5 } });
    const bucketer = bucketerFor("new-checkout");
    for (let i = 0; i < 2000; i++) {
      const key = `user-${i}`;
      const r = evaluate(f, { targetingKey: key });
      assert.equal(r.reason, "SPLIT");
      assert.equal(r.variant, bucketer.bucket(key) < 3750 ? "on" : "off", key);
    }
  });

  it("a rollout's control, stickiness attribute and group are its own", () => {
    const f = flag({
      type: "string",
      variants: { old: "o", new: "n", fallback: "f" },
      defaultVariant: "fallback",
      rollout: { variant: "new", control: "old", percent: 50, stickiness: "tenant", group: "g" },
    });
    const bucketer = bucketerFor("g");
    for (const tenant of ["t1", "t2", "t3", "t4", "t5", "t6"]) {
      const want = bucketer.bucket(tenant) < 5000 ? "new" : "old";
      assert.equal(evaluate(f, { targetingKey: "ignored", tenant }).variant, want);
    }
    // A numeric attribute hashes as its decimal text.
    assert.equal(evaluate(f, { tenant: 123 }).variant, evaluate(f, { tenant: "123" }).variant);
  });

  it("a split needing the targeting key it lacks is an ERROR: TARGETING_KEY_MISSING, default value", () => {
    const f = flag({ rollout: { variant: "on", percent: 5 } });
    for (const ctx of [{}, { targetingKey: "" }, { targetingKey: null }] as EvaluationContext[]) {
      const r = evaluate(f, ctx);
      assert.equal(r.reason, "ERROR");
      assert.equal(r.errorCode, "TARGETING_KEY_MISSING");
      assert.equal(r.value, false);
      assert.equal(r.variant, "off");
    }
    const byTenant = flag({ rollout: { variant: "on", percent: 5, stickiness: "tenant" } });
    const r = evaluate(byTenant, { targetingKey: "u" });
    assert.equal(r.errorCode, "INVALID_CONTEXT");
    assert.match(r.errorDetails ?? "", /tenant/);
  });

  it("at 0 % and 100 % a rollout needs no key: the answer is the same for everyone", () => {
    assert.equal(evaluate(flag({ rollout: { variant: "on", percent: 100 } }), {}).variant, "on");
    assert.equal(evaluate(flag({ rollout: { variant: "on", percent: 0 } }), {}).variant, "off");
  });

  it("a rule can roll out or split among the users it matches", () => {
    const f = flag({
      type: "string",
      variants: { a: "A", b: "B", c: "C" },
      defaultVariant: "c",
      rules: [
        {
          when: [{ attribute: "country", equals: "DE" }],
          split: {
            variants: [
              { variant: "a", weight: 1 },
              { variant: "b", weight: 1 },
            ],
          },
        },
        { when: [{ attribute: "country", equals: "FR" }], rollout: { variant: "b", percent: 50 } },
      ],
    });
    const de = new Set<string>();
    const fr = new Set<string>();
    for (let i = 0; i < 200; i++) {
      de.add(evaluate(f, { targetingKey: `u${i}`, country: "DE" }).variant);
      fr.add(evaluate(f, { targetingKey: `u${i}`, country: "FR" }).variant);
    }
    assert.deepEqual([...de].sort(), ["a", "b"]);
    assert.deepEqual([...fr].sort(), ["b", "c"]);
  });

  it("a split's shares follow its weights", () => {
    const f = flag({
      type: "number",
      variants: { small: 1, large: 2 },
      defaultVariant: "small",
      split: {
        variants: [
          { variant: "small", weight: 900 },
          { variant: "large", weight: 100 },
        ],
      },
    });
    let large = 0;
    for (let i = 0; i < 20_000; i++)
      if (evaluate(f, { targetingKey: `user-${i}` }).variant === "large") large++;
    assert.ok(large > 1700 && large < 2300, `${large} of 20000 got the 10 % variant`);
  });

  it("object values are served frozen, so a caller cannot change what others get", () => {
    const f = flag({
      type: "object",
      variants: { a: { color: "red", sizes: [1, 2] }, b: { color: "blue" } },
      defaultVariant: "a",
    });
    const r = evaluate(f, {});
    assert.ok(Object.isFrozen(r));
    assert.ok(Object.isFrozen(r.value));
    assert.ok(Object.isFrozen((r.value as { sizes: number[] }).sizes));
  });

  it("serves results made at compile time: users with the same outcome share one frozen object", () => {
    const f = compileFlag(
      flag({
        rules: [{ when: [{ attribute: "user-type", equals: "beta-tester" }], variant: "on" }],
        rollout: { variant: "on", percent: 50 },
      }),
    );
    const seen = new Set<object>();
    for (let i = 0; i < 500; i++) {
      seen.add(f.evaluate({ targetingKey: `u${i}` }));
      seen.add(f.evaluate({ targetingKey: `u${i}`, "user-type": "beta-tester" }));
    }
    seen.add(f.evaluate({}));
    // SPLIT on, SPLIT off, TARGETING_MATCH on, ERROR: four outcomes, four objects.
    assert.equal(seen.size, 4);
  });

  it("a context that is not an object has no attributes", () => {
    const f = flag({ rollout: { variant: "on", percent: 50 } });
    assert.equal(
      evaluate(f, null as unknown as EvaluationContext).errorCode,
      "TARGETING_KEY_MISSING",
    );
  });

  it("is monotone: the users with the variant at p1 are among those with it at p2 > p1", () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `user-${(i * 7919) % 1_000_003}`);
    const percentOf = fc.integer({ min: 0, max: BUCKETS }).map((b) => b / 100);
    fc.assert(
      fc.property(percentOf, percentOf, fc.string({ minLength: 1, maxLength: 20 }), (a, b, g) => {
        const [p1, p2] = a <= b ? [a, b] : [b, a];
        const at = (percent: number) =>
          compileFlag(flag({ rollout: { variant: "on", percent, group: g } }));
        const low = at(p1);
        const high = at(p2);
        for (const key of keys)
          if (low.evaluate({ targetingKey: key }).variant === "on")
            assert.equal(high.evaluate({ targetingKey: key }).variant, "on", `${key} at ${p2}`);
      }),
      { numRuns: 60 },
    );
  });
});
