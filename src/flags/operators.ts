/**
 * Conditions compiled into predicates over an evaluation context. Everything that can be done
 * once (parsing a version, compiling a regex, building a set) is done here, so a test at
 * evaluation time reads one attribute and compares it.
 *
 * Comparisons are typed: `equals: 42` holds for the number 42, not the string "42", since an
 * OpenFeature context keeps JSON's types. An attribute the context lacks fails every
 * condition, negated ones included: a rule `country notIn [US]` is not meant for users whose
 * country is unknown (LaunchDarkly's rule too).
 *
 * @module
 */

import semver from "semver";
import { compileLinearRegex } from "../util/linear-regex.js";
import { type Condition, OPERATOR_NAMES, type Operator } from "./conditions.js";

/** An OpenFeature evaluation context: the targeting key and any other attributes. */
export type EvaluationContext = Readonly<Record<string, unknown>> & {
  readonly targetingKey?: string;
};

export type Predicate = (ctx: EvaluationContext) => boolean;

type Scalar = string | number | boolean;

/** The operator a validated condition uses. */
export function operatorOf(c: Condition): Operator {
  const op = OPERATOR_NAMES.find((name) => c[name] !== undefined);
  if (op === undefined) throw new Error(`condition on ${c.attribute} has no operator`);
  return op;
}

/** A predicate for one validated condition. */
export function compileCondition(c: Condition): Predicate {
  const attr = c.attribute;
  const op = operatorOf(c);
  const operand = c[op];
  switch (op) {
    case "equals": {
      const want = operand as Scalar;
      return (ctx) => ctx[attr] === want;
    }
    case "notEquals": {
      const want = operand as Scalar;
      return (ctx) => {
        const v = ctx[attr];
        return v !== undefined && v !== null && v !== want;
      };
    }
    case "in":
    case "notIn": {
      const set = new Set<unknown>(operand as Scalar[]);
      if (op === "in") return (ctx) => set.has(ctx[attr]);
      return (ctx) => {
        const v = ctx[attr];
        return v !== undefined && v !== null && !set.has(v);
      };
    }
    case "prefix": {
      const s = operand as string;
      return (ctx) => {
        const v = ctx[attr];
        return typeof v === "string" && v.startsWith(s);
      };
    }
    case "suffix": {
      const s = operand as string;
      return (ctx) => {
        const v = ctx[attr];
        return typeof v === "string" && v.endsWith(s);
      };
    }
    case "contains": {
      const s = operand as string;
      return (ctx) => {
        const v = ctx[attr];
        return typeof v === "string" && v.includes(s);
      };
    }
    case "regex": {
      const re = compileLinearRegex(operand as string);
      return (ctx) => {
        const v = ctx[attr];
        return typeof v === "string" && re.test(v);
      };
    }
    case "semverEq":
    case "semverLt":
    case "semverLe":
    case "semverGt":
    case "semverGe": {
      const want = new semver.SemVer(operand as string);
      const holds = SEMVER_ORDER[op];
      return (ctx) => {
        const v = ctx[attr];
        if (typeof v !== "string") return false;
        const have = semver.parse(v);
        return have !== null && holds(have.compare(want));
      };
    }
    case "eq":
    case "lt":
    case "le":
    case "gt":
    case "ge": {
      const want = operand as number;
      const holds = NUMBER_ORDER[op];
      return (ctx) => {
        const v = ctx[attr];
        return typeof v === "number" && holds(v, want);
      };
    }
  }
}

const SEMVER_ORDER: Record<
  "semverEq" | "semverLt" | "semverLe" | "semverGt" | "semverGe",
  (cmp: number) => boolean
> = {
  semverEq: (c) => c === 0,
  semverLt: (c) => c < 0,
  semverLe: (c) => c <= 0,
  semverGt: (c) => c > 0,
  semverGe: (c) => c >= 0,
};

const NUMBER_ORDER: Record<"eq" | "lt" | "le" | "gt" | "ge", (a: number, b: number) => boolean> = {
  eq: (a, b) => a === b,
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
};

/** All of `conditions` (AND); one predicate, so a one-condition rule costs one call. */
export function compileConditions(conditions: readonly Condition[]): Predicate {
  const tests = conditions.map(compileCondition);
  if (tests.length === 1) return tests[0] as Predicate;
  return (ctx) => {
    for (let i = 0; i < tests.length; i++) if (!(tests[i] as Predicate)(ctx)) return false;
    return true;
  };
}
