/**
 * A targeting condition as written in a spec: one context attribute and exactly one operator.
 * The operator is a key (`equals: beta-tester`, `semverGe: 2.1.0`) so a spec reads like the
 * rule it states, and an unknown operator is an unknown field, named where it stands.
 *
 * @module
 */

import semver from "semver";
import { z } from "zod";
import { linearRegexProblem } from "../util/linear-regex.js";

const Scalar = z
  .union([z.string(), z.number(), z.boolean()])
  .describe("A string, a number or a boolean; compared with the attribute's value and type.");

const Scalars = z
  .array(Scalar)
  .min(1, { message: "expected at least one value" })
  .describe("Values compared with the attribute's value and type.");

// Matched against values an application's users choose, so in linear time (RE2), never by
// backtracking: one evaluation must not be able to stall the process serving every other.
const Regex = z.string().superRefine((s, ctx) => {
  const problem = linearRegexProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

const Version = z
  .string()
  .refine((s) => semver.valid(s) !== null, {
    message: "expected a semantic version such as 2.1.0 or 3.0.0-beta.1",
  })
  .describe("A semantic version (semver.org), e.g. 2.1.0 or 3.0.0-beta.1.");

const Num = z.number().refine(Number.isFinite, { message: "expected a finite number" });

/** Every operator, with the schema of its operand. The order is the documentation's. */
export const OPERATORS = {
  equals: Scalar.describe("The attribute equals this value (same type)."),
  notEquals: Scalar.describe("The attribute is present and differs from this value."),
  in: Scalars.describe("The attribute equals one of these values."),
  notIn: Scalars.describe("The attribute is present and equals none of these values."),
  prefix: z.string().min(1).describe("The attribute is a string starting with this."),
  suffix: z.string().min(1).describe("The attribute is a string ending with this."),
  contains: z.string().min(1).describe("The attribute is a string containing this."),
  regex: Regex.describe(
    "The attribute is a string containing a match of this regular expression (RE2 syntax, linear time; anchor with ^ and $; `(?i)` ignores case).",
  ),
  semverEq: Version.describe("The attribute is a semantic version equal to this one."),
  semverLt: Version.describe("The attribute is a semantic version lower than this one."),
  semverLe: Version.describe("The attribute is a semantic version lower than or equal to this."),
  semverGt: Version.describe("The attribute is a semantic version greater than this one."),
  semverGe: Version.describe("The attribute is a semantic version greater than or equal to this."),
  eq: Num.describe("The attribute is a number equal to this."),
  lt: Num.describe("The attribute is a number lower than this."),
  le: Num.describe("The attribute is a number lower than or equal to this."),
  gt: Num.describe("The attribute is a number greater than this."),
  ge: Num.describe("The attribute is a number greater than or equal to this."),
} as const;

export type Operator = keyof typeof OPERATORS;
export const OPERATOR_NAMES = Object.keys(OPERATORS) as Operator[];

const optionalOperators = Object.fromEntries(
  Object.entries(OPERATORS).map(([name, schema]) => [name, schema.optional()]),
) as { [K in Operator]: z.ZodOptional<(typeof OPERATORS)[K]> };

export const Condition = z
  .strictObject({
    attribute: z
      .string()
      .min(1)
      .max(256)
      .describe(
        "The evaluation context's attribute, e.g. `user-type`, `country`, `appVersion` or `targetingKey`.",
      ),
    ...optionalOperators,
  })
  .superRefine((c, ctx) => {
    const given = OPERATOR_NAMES.filter((op) => (c as Record<string, unknown>)[op] !== undefined);
    if (given.length !== 1)
      ctx.addIssue({
        code: "custom",
        message:
          given.length === 0
            ? `a condition needs one operator: ${OPERATOR_NAMES.join(", ")}`
            : `a condition has exactly one operator, not ${given.join(" and ")}: write two conditions`,
      });
  })
  .meta({
    title: "Condition",
    description:
      "One test of a context attribute: `attribute` and exactly one operator. A condition on an attribute the context does not have never holds, negated operators (`notEquals`, `notIn`) included.",
  });
export type Condition = z.infer<typeof Condition>;
