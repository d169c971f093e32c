/**
 * The threshold judge: Argo Rollouts' success and failure conditions, written in CEL and
 * evaluated on each interval's values. Expressions are parsed and type-checked once, when the
 * judge is created; they never reach `eval`.
 *
 * Variables: `result` (the canary's value, double), `stable` (the baseline's value, or null),
 * `requests` and `errors` (the canary's counts in the window, double, 0 when not counted).
 * Doubles compare with integer literals (`result > 5`), but CEL does not mix them in arithmetic:
 * write `stable * 1.5` or `stable + 2.0`, not `stable + 2`.
 *
 * Verdicts: failureCondition true → Failed; else successCondition true → Successful; only a
 * successCondition, false → Failed; only a failureCondition, false → Successful; both given and
 * neither true → Inconclusive. No canary value → Inconclusive (never a silent pass); a condition
 * that fails to evaluate → Error with CEL's message, or Inconclusive when it failed because it
 * uses `stable` and there was no stable value.
 *
 * @module
 */

import { type ASTNode, Environment, type ParseResult } from "@marcbachmann/cel-js";
import type { JudgeConfig } from "../../spec/analysis.js";
import { fmt } from "../kayenta/classify.js";
import type { Judge, Observation, Verdict } from "../types.js";

/** The `threshold` branch of a judge in the spec. */
export type ThresholdConfig = Extract<JudgeConfig, { threshold: unknown }>["threshold"];

/** Built once: environments are expensive, parsing against one is cheap. */
const env = new Environment()
  .registerVariable("result", "double", { description: "the canary's value in the window" })
  .registerVariable("stable", "dyn", {
    description: "the stable baseline's value in the window, or null",
  })
  .registerVariable("requests", "double", {
    description: "the canary's requests in the window (0 when not counted)",
  })
  .registerVariable("errors", "double", {
    description: "the canary's errors in the window (0 when not counted)",
  });

interface CelError {
  summary?: string;
  message: string;
  range?: { start: number; end: number };
}

function describeError(expr: string, err: CelError): string {
  const summary = err.summary ?? err.message.split("\n")[0] ?? err.message;
  if (err.range === undefined) return summary;
  const before = expr.slice(0, err.range.start);
  const line = before.split("\n").length;
  const column = err.range.start - (before.lastIndexOf("\n") + 1) + 1;
  return `${summary} (${line > 1 ? `line ${line}, ` : ""}column ${column})`;
}

/** Parses and type-checks; returns the compiled expression or the problem. */
function compile(expr: string): ParseResult | string {
  let parsed: ParseResult;
  try {
    parsed = env.parse(expr);
  } catch (err) {
    return describeError(expr, err as CelError);
  }
  const checked = parsed.check();
  if (!checked.valid)
    return checked.error === undefined ? "invalid expression" : describeError(expr, checked.error);
  if (checked.type !== "bool" && checked.type !== "dyn") {
    return `a condition must be true or false, but this is a ${checked.type}`;
  }
  return parsed;
}

/**
 * Why `expr` is not a usable condition (syntax, unknown variable, type), or undefined when it
 * is. For the spec validator, which adds the field's path.
 */
export function checkThresholdExpression(expr: string): string | undefined {
  const compiled = compile(expr);
  return typeof compiled === "string" ? compiled : undefined;
}

function usesStable(node: ASTNode): boolean {
  const stack: unknown[] = [node];
  while (stack.length > 0) {
    const n = stack.pop();
    if (Array.isArray(n)) {
      stack.push(...n);
      continue;
    }
    if (typeof n !== "object" || n === null || !("op" in n)) continue;
    const ast = n as ASTNode;
    if (ast.op === "id" && ast.args === "stable") return true;
    stack.push(ast.args);
  }
  return false;
}

interface Condition {
  kind: "successCondition" | "failureCondition";
  expr: string;
  run: ParseResult;
  usesStable: boolean;
}

function prepare(kind: Condition["kind"], expr: string | undefined): Condition | undefined {
  if (expr === undefined) return undefined;
  const compiled = compile(expr);
  if (typeof compiled === "string")
    throw new Error(`threshold judge: ${kind} "${expr}" is invalid: ${compiled}`);
  return { kind, expr, run: compiled, usesStable: usesStable(compiled.ast) };
}

function numberOrNull(v: number | null | undefined): number | null {
  return v === null || v === undefined || Number.isNaN(v) ? null : v;
}

export function createThresholdJudge(config: ThresholdConfig): Judge {
  const failure = prepare("failureCondition", config.failureCondition);
  const success = prepare("successCondition", config.successCondition);
  if (failure === undefined && success === undefined) {
    throw new Error("threshold judge: needs a successCondition, a failureCondition or both");
  }

  return {
    type: "threshold",
    window: "interval",
    slowEdgesMs: [],
    judge(obs: Observation): Verdict {
      const result = numberOrNull(obs.canary.value);
      const stable = numberOrNull(obs.stable?.value);
      const vars = {
        result,
        stable,
        requests: obs.canary.requests ?? 0,
        errors: obs.canary.errors ?? 0,
      };
      const evidence: Record<string, unknown> = { ...vars };
      const seen =
        `result ${fmt(result)}` +
        (stable !== null ? `, stable ${fmt(stable)}` : "") +
        (obs.canary.requests !== undefined ? `, ${vars.requests} requests` : "");
      if (result === null) {
        return {
          phase: "Inconclusive",
          value: null,
          message: "no canary value in this window: conditions not evaluated",
          evidence,
        };
      }

      const evaluate = (c: Condition): boolean | Verdict => {
        let out: unknown;
        try {
          out = c.run(vars);
        } catch (err) {
          const why = describeError(c.expr, err as CelError);
          if (stable === null && c.usesStable) {
            return {
              phase: "Inconclusive",
              value: result,
              message: `${seen}: no stable value, so ${c.kind} "${c.expr}" could not be evaluated (${why})`,
              evidence: { ...evidence, error: why },
            };
          }
          return {
            phase: "Error",
            value: result,
            message: `${seen}: ${c.kind} "${c.expr}" failed: ${why}`,
            evidence: { ...evidence, error: why },
          };
        }
        if (typeof out !== "boolean") {
          const why = `evaluated to ${typeof out === "bigint" ? `${out}` : JSON.stringify(out)}, not true or false`;
          return {
            phase: "Error",
            value: result,
            message: `${seen}: ${c.kind} "${c.expr}" ${why}`,
            evidence: { ...evidence, error: why },
          };
        }
        evidence[c.kind] = out;
        return out;
      };
      const verdict = (phase: Verdict["phase"], why: string): Verdict => ({
        phase,
        value: result,
        message: `${seen}: ${why} → ${phase}`,
        evidence,
      });

      const failed = failure === undefined ? undefined : evaluate(failure);
      if (typeof failed === "object") return failed;
      if (failed === true) return verdict("Failed", `failureCondition "${failure?.expr}" is true`);
      const passed = success === undefined ? undefined : evaluate(success);
      if (typeof passed === "object") return passed;
      if (passed === true)
        return verdict("Successful", `successCondition "${success?.expr}" is true`);
      if (success !== undefined && failure !== undefined) {
        return verdict(
          "Inconclusive",
          `neither successCondition "${success.expr}" nor failureCondition "${failure.expr}" is true`,
        );
      }
      if (success !== undefined)
        return verdict("Failed", `successCondition "${success.expr}" is false`);
      return verdict("Successful", `failureCondition "${failure?.expr}" is false`);
    },
    state: () => null,
    restore: () => {},
  };
}
