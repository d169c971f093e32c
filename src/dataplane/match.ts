/**
 * Match rules compiled into predicates once per configuration, so a request only runs
 * comparisons. A rule's conditions all have to hold (AND), as in Gateway API's HTTPRouteMatch.
 *
 * @module
 */

import type { RequestMatch, StringMatch } from "../spec/schema.js";
import { compileLinearRegex } from "../util/linear-regex.js";
import { type HeaderSlots, type RequestView, readCookie, readQuery } from "./request-view.js";

export type RequestPredicate = (view: RequestView) => boolean;

/**
 * One value compared as the spec says: exact, prefix or (unanchored) regular expression. The
 * value is the client's, so a regex runs in linear time (RE2, see util/linear-regex.ts).
 */
export function compileStringMatch(m: StringMatch): (value: string | undefined) => boolean {
  if ("exact" in m) {
    const expected = m.exact;
    return (v) => v === expected;
  }
  if ("prefix" in m) {
    const prefix = m.prefix;
    return (v) => v?.startsWith(prefix) === true;
  }
  const re = compileLinearRegex(m.regex);
  return (v) => v !== undefined && re.test(v);
}

/** Compiles a request match; header names it reads get slots in `slots`. */
export function compileRequestMatch(m: RequestMatch, slots: HeaderSlots): RequestPredicate {
  const checks: RequestPredicate[] = [];
  for (const [name, sm] of Object.entries(m.headers ?? {})) {
    const slot = slots.slot(name);
    const test = compileStringMatch(sm);
    checks.push((view) => test(view.headers[slot]));
  }
  const cookieEntries = Object.entries(m.cookies ?? {});
  if (cookieEntries.length > 0) {
    const slot = slots.slot("cookie");
    for (const [name, sm] of cookieEntries) {
      const test = compileStringMatch(sm);
      checks.push((view) => test(readCookie(view.headers[slot], name)));
    }
  }
  for (const [name, sm] of Object.entries(m.query ?? {})) {
    const test = compileStringMatch(sm);
    checks.push((view) => test(readQuery(view.url, name)));
  }
  if (checks.length === 1) return checks[0] as RequestPredicate;
  return (view) => {
    for (const check of checks) if (!check(view)) return false;
    return true;
  };
}
