/**
 * Flag evaluation, as OFREP and OpenFeature report it: a value, its variant, a reason and, on
 * failure, an error code.
 *
 * A flag is compiled once into closures over plain data: rules into predicates, every result
 * that does not depend on the user into a frozen object made up front. An evaluation then
 * reads the context, hashes at most one key and returns one of those objects, allocating
 * nothing of its own (the in-process provider's budget is about 1 µs per evaluation).
 *
 * Bucketing is the data plane's (`src/dataplane/hash.ts`): a rollout hashes
 * `group:<stickiness value>` into 10,000 buckets and serves its variant below percent × 100,
 * exactly as a service's canary weight does, which is also Unleash's gradual rollout; a split
 * picks a variant as Unleash does (seed 86028157 over the total weight).
 *
 * @module
 */

import {
  BUCKETS,
  bucketerFor,
  type PrefixedHasher,
  variantHasherFor,
  weightedPosition,
} from "../dataplane/hash.js";
import { compileConditions, type EvaluationContext, type Predicate } from "./operators.js";
import type { Flag, Rollout, Split } from "./schema.js";

export type { EvaluationContext } from "./operators.js";

/** OFREP's reasons (plus OpenFeature's DEFAULT and ERROR, which OFREP carries as failures). */
export type Reason = "STATIC" | "TARGETING_MATCH" | "SPLIT" | "DISABLED" | "DEFAULT" | "ERROR";

/** OFREP's evaluation error codes that the evaluator itself can raise. */
export type EvaluationErrorCode = "TARGETING_KEY_MISSING" | "INVALID_CONTEXT";

export type FlagMetadata = Readonly<Record<string, string | number | boolean>>;

export interface Evaluation {
  readonly value: unknown;
  readonly variant: string;
  readonly reason: Reason;
  readonly errorCode?: EvaluationErrorCode;
  readonly errorDetails?: string;
  readonly metadata?: FlagMetadata;
}

export interface CompiledFlag {
  readonly key: string;
  readonly flag: Flag;
  evaluate(ctx: EvaluationContext): Evaluation;
}

type Outcome = (ctx: EvaluationContext) => Evaluation;

const EMPTY: EvaluationContext = Object.freeze({});

/** Compiles a validated flag (one that `Flag` in `./schema.ts` accepted). */
export function compileFlag(flag: Flag): CompiledFlag {
  const results = new ResultTable(flag);
  let run: Outcome;
  if (flag.disabled) {
    const disabled = results.get(flag.defaultVariant, "DISABLED");
    run = () => disabled;
  } else {
    const tests: Predicate[] = [];
    const outcomes: Outcome[] = [];
    flag.rules.forEach((rule, i) => {
      tests.push(compileConditions(rule.when));
      const meta = { rule: rule.name ?? i };
      if (rule.variant !== undefined) {
        const fixed = results.get(rule.variant, "TARGETING_MATCH", meta);
        outcomes.push(() => fixed);
      } else if (rule.rollout !== undefined) {
        outcomes.push(rolloutOutcome(flag, rule.rollout, results, meta));
      } else if (rule.split !== undefined) {
        outcomes.push(splitOutcome(flag, rule.split, results, meta));
      } else throw new Error(`flag ${flag.key}: rules[${i}] serves nothing (not a validated flag)`);
    });
    let fallthrough: Outcome;
    if (flag.rollout !== undefined) fallthrough = rolloutOutcome(flag, flag.rollout, results);
    else if (flag.split !== undefined) fallthrough = splitOutcome(flag, flag.split, results);
    else {
      // No dynamic evaluation can happen without rules: the flag is static.
      const fixed = results.get(flag.defaultVariant, tests.length === 0 ? "STATIC" : "DEFAULT");
      fallthrough = () => fixed;
    }
    const n = tests.length;
    run =
      n === 0
        ? fallthrough
        : (ctx) => {
            for (let i = 0; i < n; i++)
              if ((tests[i] as Predicate)(ctx)) return (outcomes[i] as Outcome)(ctx);
            return fallthrough(ctx);
          };
  }
  return {
    key: flag.key,
    flag,
    // A context that is not an object (JSON's null, a number) has no attributes at all.
    evaluate: (ctx) => run(typeof ctx === "object" && ctx !== null ? ctx : EMPTY),
  };
}

const compiled = new WeakMap<Flag, CompiledFlag>();

/**
 * Evaluates `flag` for `ctx`. A plain flag is compiled on first use and the compiled form kept
 * for as long as the flag object lives; hot paths hold a {@link CompiledFlag} themselves.
 */
export function evaluate(flag: Flag | CompiledFlag, ctx: EvaluationContext): Evaluation {
  if ("evaluate" in flag) return flag.evaluate(ctx);
  let c = compiled.get(flag);
  if (c === undefined) {
    c = compileFlag(flag);
    compiled.set(flag, c);
  }
  return c.evaluate(ctx);
}

/** Every result a flag can give that does not depend on the user, each made once and frozen. */
class ResultTable {
  readonly #flag: Flag;
  readonly #cache = new Map<string, Evaluation>();

  constructor(flag: Flag) {
    this.#flag = flag;
  }

  get(variant: string, reason: Reason, extra?: FlagMetadata): Evaluation {
    const id = `${variant}\u0000${reason}\u0000${JSON.stringify(extra ?? null)}`;
    let r = this.#cache.get(id);
    if (r === undefined) {
      r = this.#make({ variant, reason }, extra);
      this.#cache.set(id, r);
    }
    return r;
  }

  error(code: EvaluationErrorCode, details: string, extra?: FlagMetadata): Evaluation {
    return this.#make(
      {
        variant: this.#flag.defaultVariant,
        reason: "ERROR",
        errorCode: code,
        errorDetails: details,
      },
      extra,
    );
  }

  #make(r: Omit<Evaluation, "value" | "metadata">, extra: FlagMetadata | undefined): Evaluation {
    const metadata =
      this.#flag.metadata === undefined && extra === undefined
        ? undefined
        : Object.freeze({ ...this.#flag.metadata, ...extra });
    return Object.freeze({
      value: deepFreeze(this.#flag.variants[r.variant]),
      ...r,
      ...(metadata === undefined ? {} : { metadata }),
    });
  }
}

/** Object values are shared by every evaluation, so no caller may change them. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Reads the value users are bucketed on. Numbers are accepted as their decimal text (a
 * numeric user id hashes as it would as a string); anything else counts as absent.
 */
function stickyKey(ctx: EvaluationContext, attr: string): string | undefined {
  const v = ctx[attr];
  if (typeof v === "string") return v.length > 0 ? v : undefined;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return undefined;
}

function missingKey(
  attr: string,
  results: ResultTable,
  extra: FlagMetadata | undefined,
): Evaluation {
  return attr === "targetingKey"
    ? results.error(
        "TARGETING_KEY_MISSING",
        "this flag splits users by targetingKey, and the context has none",
        extra,
      )
    : results.error(
        "INVALID_CONTEXT",
        `this flag splits users by the context attribute ${attr}, and the context has none`,
        extra,
      );
}

function rolloutOutcome(
  flag: Flag,
  r: Rollout,
  results: ResultTable,
  extra?: FlagMetadata,
): Outcome {
  const on = results.get(r.variant, "SPLIT", extra);
  const off = results.get(r.control ?? flag.defaultVariant, "SPLIT", extra);
  const threshold = Math.round((r.percent ?? 0) * 100);
  // At 0 % or 100 % the answer does not depend on the user, so no key is needed for it.
  if (threshold <= 0) return () => off;
  if (threshold >= BUCKETS) return () => on;
  const hasher = bucketerFor(r.group ?? flag.key);
  const attr = r.stickiness;
  const missing = missingKey(attr, results, extra);
  return (ctx) => {
    const key = stickyKey(ctx, attr);
    if (key === undefined) return missing;
    return hasher.bucket(key) < threshold ? on : off;
  };
}

function splitOutcome(flag: Flag, s: Split, results: ResultTable, extra?: FlagMetadata): Outcome {
  const weighted = s.variants.filter((v) => v.weight > 0);
  const picks = weighted.map((v) => results.get(v.variant, "SPLIT", extra));
  if (picks.length === 1) {
    const only = picks[0] as Evaluation;
    return () => only;
  }
  // Cumulative weights: the first variant whose running total reaches the position wins.
  const ends = new Float64Array(weighted.length);
  let total = 0;
  weighted.forEach((v, i) => {
    total += v.weight;
    ends[i] = total;
  });
  const hasher: PrefixedHasher = variantHasherFor(s.group ?? flag.key);
  const attr = s.stickiness;
  const missing = missingKey(attr, results, extra);
  const last = picks.length - 1;
  return (ctx) => {
    const key = stickyKey(ctx, attr);
    if (key === undefined) return missing;
    const position = weightedPosition(hasher, key, total);
    for (let i = 0; i < last; i++)
      if (position <= (ends[i] as number)) return picks[i] as Evaluation;
    return picks[last] as Evaluation;
  };
}
