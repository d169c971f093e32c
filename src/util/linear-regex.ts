/**
 * Regular expressions from a spec, matched in time linear in the input.
 *
 * A spec's regex runs against values a client chooses (a header, a cookie, a query parameter)
 * on the router's one event loop. V8's own engine backtracks: `(a+)+$` against thirty `a`s and
 * a `!` takes seconds, and the router, the admin API and the controller all stop with it. So
 * these patterns use RE2's semantics and guarantee, as Envoy and Istio do, through `re2js`, a
 * pure-JavaScript port of RE2: no native build on any Node version, no WebAssembly.
 *
 * The alternatives, measured on this kind of machine (ns per test of a short header value):
 * V8's backtracking engine 19–85 but exponential in the worst case; V8's experimental linear
 * engine (`--enable-experimental-regexp-engine`, the `l` flag) 430–8,500 and only behind a
 * process flag; `re2js` 680–2,100. A spec-time check for "dangerous" shapes (nested
 * quantifiers) is not sound: `(a|a)*b` and `\d*\d*\d*x` pass it and still blow up.
 *
 * What RE2 leaves out, and a spec is told at validation: backreferences (`\1`), lookaround
 * (`(?=`, `(?!`, `(?<=`, `(?<!`), possessive quantifiers. Case-insensitivity is `(?i)`.
 *
 * @module
 */

import { RE2JS } from "re2js";

/**
 * The largest compiled program a pattern may have, in RE2 instructions. Matching costs the
 * input's length times (at most) this, so the bound caps what one request can cost: about
 * 1.3 ms for `(a+)+$` (8 instructions) against a 16 KiB header, and proportionally more for
 * a bigger program. RE2 itself defaults to a memory budget rather than a count; Envoy warns
 * from 100 instructions. Real routing patterns are a few dozen.
 */
export const MAX_REGEX_PROGRAM = 1000;

/** A compiled pattern: unanchored search, like `RegExp.prototype.test`. */
export interface LinearRegex {
  readonly source: string;
  test(value: string): boolean;
}

/** Compiles `pattern`, or says why it cannot be used. */
function compile(pattern: string): RE2JS | string {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    const message = (err as Error).message.replace(/^error parsing regexp: /, "");
    return `invalid regular expression: ${message} (Aviary uses RE2 syntax, matched in linear time as in Envoy and Istio: no backreferences, no lookaround)`;
  }
  const size = re.programSize();
  if (size > MAX_REGEX_PROGRAM) {
    return `regular expression too large: ${size} RE2 instructions, at most ${MAX_REGEX_PROGRAM} (a request is matched in time proportional to this)`;
  }
  return re;
}

/** Why `pattern` cannot be used, or undefined when it can. */
export function linearRegexProblem(pattern: string): string | undefined {
  const re = compile(pattern);
  return typeof re === "string" ? re : undefined;
}

/** Compiles a pattern that {@link linearRegexProblem} accepted; throws otherwise. */
export function compileLinearRegex(pattern: string): LinearRegex {
  const re = compile(pattern);
  if (typeof re === "string") throw new Error(re);
  return { source: pattern, test: (value) => re.test(value) };
}
