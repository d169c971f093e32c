/**
 * A flag with a strategy as the controller sees it: a rollout subject named `flag:<key>` whose
 * versions are the flag's variants, so the state machine, the store, the analysis, gates,
 * notifications, the API, the CLI and the dashboard drive and show a flag exactly as they do a
 * service. The subject has no targets and no routes: what its traffic state means (the percent
 * of users who get the new variant) is served by the flags (`effective.ts`), never by an engine
 * (`src/providers/traffic/by-subject.ts` keeps subjects away from the engine).
 *
 * `:` is not allowed in a service's name, so a subject never collides with a service.
 *
 * @module
 */

import { Service } from "../spec/schema.js";
import type { Flag } from "./schema.js";

export const FLAG_SUBJECT_PREFIX = "flag:";

/** The subject name of a flag's rollouts. */
export function flagSubject(key: string): string {
  return `${FLAG_SUBJECT_PREFIX}${key}`;
}

/** Whether a rollout subject is a flag's (else it is a service). */
export function isFlagSubject(name: string): boolean {
  return name.startsWith(FLAG_SUBJECT_PREFIX);
}

/** The flag key of a subject name; undefined for a service's name. */
export function flagKeyOf(name: string): string | undefined {
  return isFlagSubject(name) ? name.slice(FLAG_SUBJECT_PREFIX.length) : undefined;
}

/** The variant everyone gets who is not in the rollout. */
export function controlOf(flag: Flag): string {
  return flag.rollout?.control ?? flag.defaultVariant;
}

// A service's defaults (timeouts, outlier detection), made once by the schema that owns them.
const DEFAULTS = Service.parse({
  name: "defaults",
  match: { pathPrefix: "/" },
  stable: { version: "defaults", targets: ["http://127.0.0.1:1"] },
});

/**
 * The subjects of the flags that have a strategy: stable = the control variant, canary = the
 * variant rolled out. Same flag, same subject (a re-applied spec changes nothing).
 */
export function flagSubjects(flags: readonly Flag[]): Service[] {
  const out: Service[] = [];
  for (const flag of flags) {
    if (flag.strategy === undefined || flag.rollout === undefined) continue;
    out.push({
      ...DEFAULTS,
      name: flagSubject(flag.key),
      stable: { version: controlOf(flag), targets: [] },
      canary: { version: flag.rollout.variant, targets: [] },
      strategy: flag.strategy,
    });
  }
  return out;
}
