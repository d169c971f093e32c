/**
 * Aviary's bucketing against Unleash's published client specification
 * (`@unleash/client-specification`, the JSON cases every Unleash SDK must pass). Each case's
 * toggle is translated into an Aviary flag (a strategy into a rule or the fallthrough, a
 * rollout percentage into `rollout`, variants into `split`), the flag is validated by the
 * spec schema, evaluated, and compared with the expected result.
 *
 * Context translation: Unleash's `userId`, `sessionId`, top-level fields and `properties`
 * become attributes of the same names; OpenFeature's `targetingKey` is `userId`, else
 * `sessionId` (Unleash's "default" stickiness, less its random last resort).
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import type { EvaluationContext } from "./evaluate.js";
import { compileFlag } from "./evaluate.js";
import { Flag, type FlagInput } from "./schema.js";

const SPEC_DIR = join(
  dirname(createRequire(import.meta.url).resolve("@unleash/client-specification/package.json")),
  "specifications",
);

interface UVariant {
  name: string;
  weight: number;
  stickiness?: string;
  payload?: { type: string; value: string };
  overrides?: Array<{ contextName: string; values: string[] }>;
}
interface UConstraint {
  contextName: string;
  operator: string;
  values?: string[];
  inverted?: boolean;
  caseInsensitive?: boolean;
}
interface UStrategy {
  name: string;
  parameters?: Record<string, string>;
  constraints?: UConstraint[];
  variants?: UVariant[];
}
interface UFeature {
  name: string;
  enabled: boolean;
  strategies: UStrategy[];
  variants?: UVariant[];
}
interface UContext {
  userId?: string;
  sessionId?: string;
  properties?: Record<string, string>;
  [field: string]: unknown;
}
interface UCase {
  description: string;
  context: UContext;
  toggleName: string;
}
interface USpecFile {
  state: { features: UFeature[] };
  tests?: Array<UCase & { expectedResult: boolean }>;
  variantTests?: Array<
    UCase & { expectedResult: { name: string; payload?: { type: string; value: string } } }
  >;
}

/**
 * Cases left out, each with why the models do not overlap there. Matched by description.
 * Every other case of the files below runs.
 */
const EXCLUDED: Record<string, string> = {
  // Asking for a flag that does not exist is the flag store's answer (OFREP's FLAG_NOT_FOUND),
  // not the evaluator's: there is no flag to translate.
  "Feature.Variants.MissingToggle should be disabled missing toggle": "no such toggle",
  // Unleash's gradualRolloutUserId needs a userId even at 100 %. An Aviary rollout at 100 % is
  // a promoted flag: everyone, with a key or without (as Unleash's own flexibleRollout at
  // 100 % enables a context without ids, "Feature.flexibleRollout.100 should always be enabled").
  "Feature.A3 should be disabled when no user on context": "100 % needs no key in Aviary",
  "Feature.A4 should be disabled when no user on context": "100 % needs no key in Aviary",
  // The same as the missing toggle above.
  "Unknown feature toggle should be disabled": "no such toggle",
};

/** The files where the models overlap, and how many cases each must run. */
const FILES: Record<string, number> = {
  "01-simple-examples.json": 4,
  "02-user-with-id-strategy.json": 5,
  "03-gradual-rollout-user-id-strategy.json": 5,
  "04-gradual-rollout-session-id-strategy.json": 5,
  // Random rollouts only at 0 % and 100 %, where chance plays no part.
  "05-gradual-rollout-random-strategy.json": 4,
  "07-multiple-strategies.json": 6,
  "10-flexible-rollout-strategy.json": 10,
  "12-custom-stickiness.json": 9,
  "08-variants.json": 16,
  "16-strategy-variants.json": 11,
};

/** Unleash stickiness → the Aviary context attribute a rollout or split buckets on. */
function stickinessAttr(stickiness: string | undefined): string {
  return stickiness === undefined || stickiness === "default" ? "targetingKey" : stickiness;
}

function contextOf(u: UContext): EvaluationContext {
  const { properties, ...top } = u;
  const ctx: Record<string, unknown> = { ...top, ...properties };
  const key = u.userId ?? u.sessionId;
  if (key !== undefined) ctx.targetingKey = key;
  return ctx;
}

/** A strategy's share of users, or throws when it is not a rollout Aviary has. */
function rolloutOf(s: UStrategy): {
  percent: number;
  stickiness: string;
  group?: string | undefined;
} {
  const p = s.parameters ?? {};
  switch (s.name) {
    case "default":
      return { percent: 100, stickiness: "targetingKey" };
    case "gradualRolloutUserId":
      return { percent: Number(p.percentage), stickiness: "userId", group: p.groupId };
    case "gradualRolloutSessionId":
      return { percent: Number(p.percentage), stickiness: "sessionId", group: p.groupId };
    case "gradualRolloutRandom":
      // Random at 0 % or 100 % is no chance at all: the same answer for everyone.
      if (p.percentage !== "0" && p.percentage !== "100")
        throw new Error("a random rollout between 0 and 100 % has no Aviary translation");
      return { percent: Number(p.percentage), stickiness: "targetingKey" };
    case "userWithId":
      // Its user list is a condition (conditionsOf); everyone it matches is in.
      return { percent: 100, stickiness: "targetingKey" };
    case "flexibleRollout":
      return {
        percent: Number(p.rollout),
        stickiness: stickinessAttr(p.stickiness),
        group: p.groupId,
      };
    default:
      throw new Error(`strategy ${s.name} has no Aviary translation`);
  }
}

function conditionsOf(
  s: UStrategy,
): FlagInput["rules"] extends Array<infer R> | undefined
  ? R extends { when: infer W }
    ? W
    : never
  : never {
  const when = (s.constraints ?? []).map((c) => {
    if (c.operator !== "IN" || c.inverted || c.caseInsensitive)
      throw new Error(`constraint ${c.operator} on ${c.contextName} has no Aviary translation`);
    return { attribute: c.contextName, in: c.values ?? [] };
  });
  if (s.name === "userWithId") {
    const ids = (s.parameters?.userIds ?? "").split(",").map((id) => id.trim());
    when.push({ attribute: "userId", in: ids });
  }
  return when;
}

/** A toggle as a boolean Aviary flag: variant `on` for users Unleash enables it for. */
function booleanFlag(f: UFeature, index: number): Flag {
  const input: FlagInput = {
    key: `unleash-${index}`,
    type: "boolean",
    variants: { on: true, off: false },
    defaultVariant: "off",
    disabled: !f.enabled,
    rules: [],
  };
  const rules = input.rules ?? [];
  // Unleash enables a toggle when any strategy does: strategies with constraints become
  // rules in order; those without are merged into the fallthrough rollout.
  let fallthrough: ReturnType<typeof rolloutOf> | undefined;
  if (f.strategies.length === 0) fallthrough = { percent: 100, stickiness: "targetingKey" };
  for (const s of f.strategies) {
    const r = rolloutOf(s);
    const when = conditionsOf(s);
    if (when.length > 0) {
      rules.push({ when, rollout: { variant: "on", ...r, group: r.group ?? f.name } });
    } else if (r.percent === 0) {
    } else if (fallthrough === undefined || r.percent === 100) {
      if (fallthrough?.percent !== 100) fallthrough = r;
    } else if (fallthrough.percent !== 100) {
      throw new Error(`${f.name}: two partial rollouts have no single Aviary translation`);
    }
  }
  if (fallthrough !== undefined)
    input.rollout = {
      variant: "on",
      percent: fallthrough.percent,
      stickiness: fallthrough.stickiness,
      group: fallthrough.group ?? f.name,
    };
  return Flag.parse(input);
}

/**
 * A toggle as an Aviary flag whose variants are Unleash's, plus `disabled` (what Unleash
 * answers when the toggle is off) as the default. A strategy that enables everyone it matches
 * serves its own variants, else the toggle's, as a split.
 */
function variantFlag(f: UFeature, index: number): Flag {
  const all = [...(f.variants ?? []), ...f.strategies.flatMap((s) => s.variants ?? [])];
  const numeric = all.some((v) => v.payload?.type === "number");
  const payloadOf = (v: UVariant) =>
    numeric ? Number(v.payload?.value ?? 0) : (v.payload?.value ?? "");
  const variants: Record<string, unknown> = { disabled: numeric ? 0 : "" };
  for (const v of all) variants[v.name] = payloadOf(v);
  const input: FlagInput = {
    key: `unleash-${index}`,
    type: numeric ? "number" : "string",
    variants,
    defaultVariant: "disabled",
    disabled: !f.enabled,
    rules: [],
  };
  const rules = input.rules ?? [];
  const featureVariants = f.variants ?? [];
  const serve = (s: UStrategy | undefined) => {
    const own = s?.variants ?? [];
    if (own.length > 0) {
      const group = s?.parameters?.groupId ?? f.name;
      return {
        split: {
          variants: own.map((v) => ({ variant: v.name, weight: v.weight })),
          stickiness: stickinessAttr(s?.parameters?.stickiness),
          group,
        },
      };
    }
    if (featureVariants.length === 0) return { variant: "disabled" };
    return {
      split: {
        variants: featureVariants.map((v) => ({ variant: v.name, weight: v.weight })),
        stickiness: stickinessAttr(featureVariants[0]?.stickiness),
        group: f.name,
      },
    };
  };
  let everyone: UStrategy | undefined | null = f.strategies.length === 0 ? undefined : null;
  for (const s of f.strategies) {
    const r = rolloutOf(s);
    if (r.percent === 0) continue;
    if (r.percent !== 100)
      throw new Error(`${f.name}: a partial rollout with variants has no Aviary translation`);
    const when = conditionsOf(s);
    if (when.length > 0) rules.push({ when, ...serve(s) });
    else if (everyone === null) everyone = s;
  }
  if (everyone !== null) {
    // Overrides pin a variant for listed users once the toggle is on: rules before the split.
    for (const v of featureVariants)
      for (const o of v.overrides ?? [])
        rules.unshift({
          when: [{ attribute: stickinessAttr(o.contextName), in: o.values }],
          variant: v.name,
        });
    // On for everyone with no variants at all: Unleash answers `disabled`, the default here.
    const target = serve(everyone);
    if ("split" in target) input.split = target.split;
  }
  return Flag.parse(input);
}

function load(file: string): USpecFile {
  return JSON.parse(readFileSync(join(SPEC_DIR, file), "utf8")) as USpecFile;
}

describe("Unleash client specification 6.1.0", () => {
  const ran: Record<string, number> = {};

  for (const [file, expected] of Object.entries(FILES)) {
    it(`${file}: every overlapping case agrees (${expected} cases)`, () => {
      const spec = load(file);
      const features = new Map(spec.state.features.map((f, i) => [f.name, { f, i }]));
      let count = 0;
      const failures: string[] = [];
      for (const t of spec.tests ?? []) {
        if (EXCLUDED[t.description] !== undefined) continue;
        const found = features.get(t.toggleName);
        assert.ok(found, `${file}: no toggle ${t.toggleName}`);
        const flag = compileFlag(booleanFlag(found.f, found.i));
        const result = flag.evaluate(contextOf(t.context));
        const enabled = result.variant === "on";
        if (enabled !== t.expectedResult)
          failures.push(`${t.description}: Aviary ${enabled} (${result.reason})`);
        count++;
      }
      for (const t of spec.variantTests ?? []) {
        if (EXCLUDED[t.description] !== undefined) continue;
        const found = features.get(t.toggleName);
        assert.ok(found, `${file}: no toggle ${t.toggleName}`);
        const flag = compileFlag(variantFlag(found.f, found.i));
        const result = flag.evaluate(contextOf(t.context));
        const want = t.expectedResult;
        const payload = want.payload;
        const value =
          payload === undefined
            ? result.value
            : payload.type === "number"
              ? Number(payload.value)
              : payload.value;
        if (result.variant !== want.name || result.value !== value)
          failures.push(
            `${t.description}: Aviary ${result.variant}=${String(result.value)} (${result.reason}), Unleash ${want.name}=${String(value)}`,
          );
        count++;
      }
      ran[file] = count;
      assert.deepEqual(failures, [], `\n${failures.join("\n")}`);
      const total = (spec.tests?.length ?? 0) + (spec.variantTests?.length ?? 0);
      const excluded = [...(spec.tests ?? []), ...(spec.variantTests ?? [])].filter(
        (t) => EXCLUDED[t.description] !== undefined,
      ).length;
      assert.equal(count, total - excluded, `${file}: every case not excluded ran`);
      assert.ok(count >= expected, `${file}: ${count} cases ran, expected ${expected}`);
    });
  }

  it("ran the expected number of cases in each file", () => {
    // Printed so a run shows the counts the docs quote.
    console.log(`Unleash cases run: ${JSON.stringify(ran)}`);
    for (const [file, expected] of Object.entries(FILES))
      assert.equal(ran[file], expected, `${file}: ${ran[file] ?? 0} ran, expected ${expected}`);
    assert.equal(Object.keys(EXCLUDED).length, 4, "the exclusion list is the documented one");
  });
});
