/**
 * A feature flag as a spec declares it: typed variants, a default, targeting rules tried in
 * order, and what everyone else gets (a percentage rollout of one variant, a weighted split,
 * or the default). Every cross-reference (a variant named by a rule, a rollout, a split) and
 * every value's type is checked here, so an evaluation never meets a flag it cannot serve.
 *
 * @module
 */

import { z } from "zod";
import { Name } from "../spec/schema-parts.js";
import { Strategy } from "../spec/strategy.js";
import { Condition } from "./conditions.js";

export const FLAG_TYPES = ["boolean", "string", "number", "object"] as const;
export type FlagType = (typeof FLAG_TYPES)[number];

const VariantName = z
  .string()
  .regex(/^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/, {
    message:
      "expected a variant name: 1-63 letters, digits, '.', '_' or '-', starting and ending alphanumeric",
  })
  .describe(
    "A variant's name (1-63 letters, digits, '.', '_' or '-'): what OFREP reports as `variant` and what exposures are counted by.",
  );

const Attribute = z.string().min(1).max(256);

const Percent = z
  .number()
  .min(0)
  .max(100)
  // p × 100 in binary floating point is not always whole for two decimals (0.29 × 100).
  .refine((p) => Math.abs(Math.round(p * 100) - p * 100) < 1e-6, {
    message: "percent has at most two decimals",
  });

/** The context attribute a split buckets on; `targetingKey` is OpenFeature's user identity. */
const StickinessAttr = Attribute.default("targetingKey").describe(
  "The context attribute users are bucketed on: `targetingKey` (OpenFeature's user identity) or another attribute, e.g. `sessionId` or `tenant`.",
);

const Group = z
  .string()
  .min(1)
  .max(256)
  .optional()
  .describe(
    "Hash group (Unleash's groupId); defaults to the flag's key, so flags bucket independently. Flags sharing a group put the same users first.",
  );

export const Rollout = z
  .strictObject({
    variant: VariantName.describe("The variant being rolled out."),
    percent: Percent.optional().describe(
      "Share of users (0-100, to 0.01) who get `variant`. Monotone: a user who has it at 5 % keeps it at 50 %. Required, except in the rollout of a flag with a `strategy`, whose steps set it.",
    ),
    control: VariantName.optional().describe(
      "What the other users get; defaults to the flag's `defaultVariant`.",
    ),
    stickiness: StickinessAttr,
    group: Group,
  })
  .meta({
    title: "Flag rollout",
    description:
      "A percentage rollout of one variant: users whose bucket (murmur3 of `group:<stickiness value>` into 10,000 buckets, as services are bucketed) is below percent × 100 get `variant`, the others `control`.",
  });
export type Rollout = z.infer<typeof Rollout>;

export const Split = z
  .strictObject({
    variants: z
      .array(
        z.strictObject({
          variant: VariantName,
          weight: z.int().min(0).max(1_000_000).describe("Relative weight of the variant."),
        }),
      )
      .min(1)
      .describe("The variants and their relative weights, in the order they are walked."),
    stickiness: StickinessAttr,
    group: Group,
  })
  .meta({
    title: "Flag split",
    description:
      "A weighted choice among several variants (an A/B/n test), hashed as Unleash chooses variants (seed 86028157 over the total weight), so the same weights, group and key pick the same variant. Unlike a rollout, changing the weights moves users between variants.",
  });
export type Split = z.infer<typeof Split>;

export const Rule = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .optional()
      .describe("A label for people reading the spec; reported in the evaluation's metadata."),
    when: z
      .array(Condition)
      .min(1, { message: "a rule needs at least one condition" })
      .describe("Conditions on the evaluation context; all must hold (AND)."),
    variant: VariantName.optional().describe("The variant matching users get."),
    rollout: Rollout.optional().describe("A percentage rollout among matching users."),
    split: Split.optional().describe("A weighted split among matching users."),
  })
  .superRefine((r, ctx) => {
    const given = [r.variant, r.rollout, r.split].filter((x) => x !== undefined).length;
    if (given !== 1)
      ctx.addIssue({
        code: "custom",
        message: "a rule serves exactly one of variant, rollout or split",
      });
  })
  .meta({
    title: "Flag rule",
    description:
      "A targeting rule: when every condition holds, the rule decides (a variant, a rollout or a split). Rules are tried in order; the first that matches wins.",
  });
export type Rule = z.infer<typeof Rule>;

const MetadataValue = z.union([z.string(), z.number(), z.boolean()]);

const FlagFields = z.strictObject({
  key: Name.describe(
    "The flag's key, unique in the spec: what applications ask for (OpenFeature's flag key). Same rules as a service name.",
  ),
  type: z
    .enum(FLAG_TYPES)
    .describe("The type of every variant's value: boolean, string, number or object."),
  description: z.string().optional().describe("What the flag is for, for people."),
  variants: z
    .record(VariantName, z.unknown())
    .refine((v) => Object.keys(v).length > 0, { message: "a flag needs at least one variant" })
    .describe("The flag's variants: name → value, each value of the flag's `type`."),
  defaultVariant: VariantName.describe(
    "Served when the flag is disabled, when no rule matches and there is no rollout or split, and on an evaluation error.",
  ),
  disabled: z
    .boolean()
    .default(false)
    .describe("Serve `defaultVariant` to everyone (reason DISABLED), whatever the rules say."),
  rules: z
    .array(Rule)
    .default([])
    .describe("Targeting rules, tried in order before the rollout; the first match decides."),
  rollout: Rollout.optional().describe(
    "For users no rule matched: a percentage rollout of one variant.",
  ),
  split: Split.optional().describe("For users no rule matched: a weighted split of variants."),
  metadata: z
    .record(z.string().min(1), MetadataValue)
    .optional()
    .describe(
      "Flag metadata returned with every evaluation (OFREP `metadata`): strings, numbers, booleans.",
    ),
  strategy: Strategy.optional().describe(
    "Rolls `rollout.variant` out as a service's canary is rolled out: its steps set the percent, its pauses, gates and analyses hold or stop it. The flag is then the rollout subject `flag:<key>` (the CLI, the API, the dashboard, the history and notifications name it so). An abort serves the control variant to everyone, a promotion the new one to everyone; `setHeaderRoute`, `setMirror` and `blueGreen` are for services.",
  ),
});

export const Flag = FlagFields.superRefine((flag, ctx) => checkFlag(flag, ctx)).meta({
  title: "Flag",
  description:
    "A feature flag: typed variants, targeting rules and a rollout, evaluated in-process or through OFREP.",
});
export type Flag = z.infer<typeof Flag>;
export type FlagInput = z.input<typeof Flag>;

/** Whether `value` has the flag's type. */
export function hasType(type: FlagType, value: unknown): boolean {
  switch (type) {
    case "boolean":
      return typeof value === "boolean";
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
  }
}

function checkFlag(flag: z.infer<typeof FlagFields>, ctx: z.RefinementCtx): void {
  const names = Object.keys(flag.variants);
  const known = new Set(names);
  for (const name of names) {
    if (!hasType(flag.type, flag.variants[name]))
      ctx.addIssue({
        code: "custom",
        path: ["variants", name],
        message: `variant ${name} is not a ${flag.type}${flag.type === "object" ? " (a mapping)" : ""}`,
      });
  }
  const refer = (name: string | undefined, path: PropertyKey[]) => {
    if (name !== undefined && !known.has(name))
      ctx.addIssue({
        code: "custom",
        path,
        message: `no variant named ${name} (variants: ${names.join(", ")})`,
      });
  };
  refer(flag.defaultVariant, ["defaultVariant"]);
  const checkRollout = (r: Rollout | undefined, path: PropertyKey[], driven = false) => {
    if (r === undefined) return;
    if (driven && r.percent !== undefined)
      ctx.addIssue({
        code: "custom",
        path: [...path, "percent"],
        message: "with a strategy, the rollout's steps set the percent: leave percent out",
      });
    if (!driven && r.percent === undefined)
      ctx.addIssue({
        code: "custom",
        path: [...path, "percent"],
        message: "a rollout needs a percent (only a flag with a strategy leaves it to its steps)",
      });
    refer(r.variant, [...path, "variant"]);
    refer(r.control, [...path, "control"]);
    const control = r.control ?? flag.defaultVariant;
    if (control === r.variant)
      ctx.addIssue({
        code: "custom",
        path: [...path, r.control === undefined ? "variant" : "control"],
        message: `the rollout's variant and its control are both ${control}`,
      });
  };
  const checkSplit = (s: Split | undefined, path: PropertyKey[]) => {
    if (s === undefined) return;
    const seen = new Set<string>();
    s.variants.forEach((v, i) => {
      refer(v.variant, [...path, "variants", i, "variant"]);
      if (seen.has(v.variant))
        ctx.addIssue({
          code: "custom",
          path: [...path, "variants", i, "variant"],
          message: `variant ${v.variant} is listed twice in the split`,
        });
      seen.add(v.variant);
    });
    if (s.variants.every((v) => v.weight === 0))
      ctx.addIssue({
        code: "custom",
        path: [...path, "variants"],
        message: "a split needs a weight above 0",
      });
  };
  flag.rules.forEach((rule, i) => {
    refer(rule.variant, ["rules", i, "variant"]);
    checkRollout(rule.rollout, ["rules", i, "rollout"]);
    checkSplit(rule.split, ["rules", i, "split"]);
  });
  checkRollout(flag.rollout, ["rollout"], flag.strategy !== undefined);
  checkSplit(flag.split, ["split"]);
  if (flag.strategy !== undefined) checkStrategy(flag, flag.strategy, ctx);
  if (flag.rollout !== undefined && flag.split !== undefined)
    ctx.addIssue({
      code: "custom",
      path: ["split"],
      message: "a flag has a rollout or a split for the remaining users, not both",
    });
}

/** What a flag's strategy can do: weights, pauses, gates and analyses, on a rollout it has. */
function checkStrategy(
  flag: z.infer<typeof FlagFields>,
  strategy: Strategy,
  ctx: z.RefinementCtx,
): void {
  if (flag.rollout === undefined)
    ctx.addIssue({
      code: "custom",
      path: ["strategy"],
      message:
        "a strategy rolls out the flag's rollout: give rollout.variant (and rollout.control, or the defaultVariant is the control)",
    });
  if (flag.disabled)
    ctx.addIssue({
      code: "custom",
      path: ["disabled"],
      message: "a disabled flag serves its default to everyone: it has nothing to roll out",
    });
  if (strategy.blueGreen !== undefined)
    ctx.addIssue({
      code: "custom",
      path: ["strategy", "blueGreen"],
      message: "blueGreen is a service's form (a preview route); a flag's strategy has steps",
    });
  strategy.steps.forEach((step, i) => {
    const kind =
      "setHeaderRoute" in step ? "setHeaderRoute" : "setMirror" in step ? "setMirror" : undefined;
    if (kind !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["strategy", "steps", i, kind],
        message: `${kind} routes requests to a service's canary; a flag's steps are setWeight, pause and analysis (target a segment with a rule instead)`,
      });
  });
}
