/** Flags in a spec file: what is accepted, and every refusal at its file:line:column. */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSpec, SpecError, type SpecProblem } from "../spec/load.js";

function problems(text: string): Array<[number, number, string, string]> {
  try {
    parseSpec(text, "flags.yaml");
  } catch (err) {
    assert.ok(err instanceof SpecError, String(err));
    return err.problems.map((p: SpecProblem) => {
      assert.equal(p.file, "flags.yaml");
      return [p.line, p.column, p.path, p.message];
    });
  }
  assert.fail("expected the spec to be refused");
}

const good = `flags:
  - key: new-checkout
    type: boolean
    variants: { on: true, off: false }
    defaultVariant: off
    rules:
      - name: beta testers
        when:
          - { attribute: user-type, equals: beta-tester }
        variant: on
    rollout: { variant: on, percent: 5 }
`;

describe("flags in the spec", () => {
  it("are optional, default to none, and apply their own defaults", () => {
    assert.deepEqual(parseSpec("services: []").flags, []);
    const [f] = parseSpec(good).flags;
    assert.equal(f?.disabled, false);
    assert.equal(f?.rollout?.stickiness, "targetingKey");
    assert.equal(f?.rollout?.group, undefined);
  });

  it("refuse an unknown field at the field", () => {
    const found = problems(good.replace("    rollout:", "    rolout: {}\n    rollout:"));
    assert.deepEqual(found, [[11, 5, "flags[0].rolout", "unknown field 'rolout'"]]);
  });

  it("take a strategy whose steps set the rollout's percent", () => {
    const spec = parseSpec(
      `${good.replace("percent: 5 }", "control: off }")}    strategy:\n      steps: [{ setWeight: 5 }, { pause: { duration: 1m } }, { setWeight: 50 }]\n`,
    );
    const [f] = spec.flags;
    assert.equal(f?.rollout?.percent, undefined);
    assert.equal(f?.strategy?.steps.length, 3);
    assert.equal(f?.strategy?.progressDeadline, "10m", "a service strategy's defaults");
  });

  it("refuse a percent beside a strategy, and a strategy without a rollout", () => {
    const strategy = "    strategy: { steps: [{ setWeight: 5 }] }\n";
    assert.deepEqual(problems(good + strategy), [
      [
        11,
        38,
        "flags[0].rollout.percent",
        "with a strategy, the rollout's steps set the percent: leave percent out",
      ],
    ]);
    const [none] = problems(good.replace("    rollout: { variant: on, percent: 5 }\n", strategy));
    assert.deepEqual(none?.slice(0, 3), [11, 15, "flags[0].strategy"]);
    assert.match(none?.[3] ?? "", /a strategy rolls out the flag's rollout: give rollout.variant/);
    const [missing] = problems(good.replace(", percent: 5", ""));
    assert.deepEqual(missing?.[2], "flags[0].rollout.percent");
  });

  it("refuse the steps and forms that only route requests, at the step", () => {
    const found = problems(
      `${good.replace(", percent: 5", "")}    strategy:\n      steps:\n        - setWeight: 5\n        - setMirror: { percent: 10 }\n`,
    );
    assert.deepEqual(found[0]?.slice(0, 3), [15, 22, "flags[0].strategy.steps[1].setMirror"]);
    assert.match(found[0]?.[3] ?? "", /a flag's steps are setWeight, pause and analysis/);
  });

  it("refuse an analysis template the spec does not define, under flags", () => {
    const found = problems(
      `${good.replace(", percent: 5", "")}    strategy:\n      steps: [{ analysis: { templates: [errors] } }]\n`,
    );
    assert.deepEqual(found[0]?.slice(0, 2), [13, 41]);
    assert.equal(found[0]?.[2], "flags[0].strategy.steps[0].analysis.templates[0]");
    assert.match(found[0]?.[3] ?? "", /unknown analysis template 'errors'/);
  });

  it("refuse an unknown operator at the operator", () => {
    const found = problems(good.replace("equals: beta-tester", "startsWith: beta"));
    assert.deepEqual(found[1], [
      9,
      37,
      "flags[0].rules[0].when[0].startsWith",
      "unknown field 'startsWith'",
    ]);
  });

  it("refuse a condition with no operator, or two", () => {
    const none = problems(good.replace(", equals: beta-tester", ""));
    assert.deepEqual(none[0]?.slice(0, 3), [9, 13, "flags[0].rules[0].when[0]"]);
    assert.match(none[0]?.[3] ?? "", /needs one operator: equals, notEquals, in/);
    const two = problems(good.replace("equals: beta-tester", "equals: a, prefix: b"));
    assert.match(two[0]?.[3] ?? "", /exactly one operator, not equals and prefix/);
  });

  it("refuse a rule naming a variant the flag does not have", () => {
    const found = problems(good.replace("        variant: on\n", "        variant: maybe\n"));
    assert.deepEqual(found, [
      [10, 18, "flags[0].rules[0].variant", "no variant named maybe (variants: on, off)"],
    ]);
  });

  it("refuse a default variant that is missing", () => {
    const found = problems(good.replace("defaultVariant: off", "defaultVariant: none"));
    assert.deepEqual(found, [
      [5, 21, "flags[0].defaultVariant", "no variant named none (variants: on, off)"],
    ]);
    const absent = problems(good.replace("    defaultVariant: off\n", ""));
    assert.deepEqual(absent, [[2, 5, "flags[0].defaultVariant", "required field is missing"]]);
  });

  it("refuse a value of the wrong type at the variant", () => {
    const found = problems(good.replace("{ on: true, off: false }", "{ on: true, off: 'no' }"));
    assert.deepEqual(found, [[4, 32, "flags[0].variants.off", "variant off is not a boolean"]]);
    const obj = problems(
      good
        .replace("type: boolean", "type: object")
        .replace("{ on: true, off: false }", "{ on: { a: 1 }, off: [1] }"),
    );
    assert.deepEqual(obj, [
      [4, 36, "flags[0].variants.off", "variant off is not a object (a mapping)"],
    ]);
  });

  it("refuse a bad variant name at the name, saying why", () => {
    const found = problems(
      good.replace("{ on: true, off: false }", "{ on: true, 'o f f': false }"),
    );
    assert.deepEqual(found[0], [
      4,
      27,
      "flags[0].variants.o f f",
      `invalid name "o f f": expected a variant name: 1-63 letters, digits, '.', '_' or '-', starting and ending alphanumeric`,
    ]);
  });

  it("refuse a duplicate key at the second flag", () => {
    const found = problems(`${good}${good.replace("flags:\n", "")}`);
    assert.deepEqual(found, [
      [12, 10, "flags[1].key", "flag key new-checkout is already used by flags[0]"],
    ]);
  });

  it("refuse a bad regex, with RE2's reason", () => {
    const found = problems(good.replace("equals: beta-tester", "regex: '(?=x)'"));
    assert.equal(found.length, 1);
    assert.deepEqual(found[0]?.slice(0, 3), [9, 44, "flags[0].rules[0].when[0].regex"]);
    assert.match(found[0]?.[3] ?? "", /invalid regular expression.*no lookaround/);
  });

  it("refuse a bad semantic version and a bad key", () => {
    const found = problems(
      good
        .replace("equals: beta-tester", "semverGe: '2.1'")
        .replace("new-checkout", "New_Checkout"),
    );
    assert.deepEqual(
      found.map((p) => p.slice(0, 3)),
      [
        [2, 10, "flags[0].key"],
        [9, 47, "flags[0].rules[0].when[0].semverGe"],
      ],
    );
    assert.match(found[1]?.[3] ?? "", /semantic version/);
  });

  it("refuse a rule that serves two things, a rollout onto its own control, and a bad percent", () => {
    const two = problems(
      good.replace(
        "        variant: on\n",
        "        variant: on\n        rollout: { variant: on, percent: 1 }\n",
      ),
    );
    assert.match(two[0]?.[3] ?? "", /exactly one of variant, rollout or split/);
    const self = problems(
      good.replace("{ variant: on, percent: 5 }", "{ variant: off, percent: 5 }"),
    );
    assert.deepEqual(self, [
      [11, 25, "flags[0].rollout.variant", "the rollout's variant and its control are both off"],
    ]);
    const pct = problems(good.replace("percent: 5 }", "percent: 5.555 }"));
    assert.deepEqual(
      pct.map((p) => p[3]),
      ["percent has at most two decimals"],
    );
  });

  it("refuse a split with an unknown or repeated variant, or no weight at all", () => {
    const split = good.replace(
      "    rollout: { variant: on, percent: 5 }\n",
      "    split: { variants: [{ variant: on, weight: 0 }, { variant: on, weight: 0 }, { variant: x, weight: 1 }] }\n",
    );
    const found = problems(split);
    assert.deepEqual(
      found.map((p) => [p[2], p[3]]),
      [
        ["flags[0].split.variants[1].variant", "variant on is listed twice in the split"],
        ["flags[0].split.variants[2].variant", "no variant named x (variants: on, off)"],
      ],
    );
    const zero = problems(
      split.replace("{ variant: x, weight: 1 }", "{ variant: off, weight: 0 }"),
    );
    assert.ok(zero.some((p) => p[3] === "a split needs a weight above 0"));
  });
});
