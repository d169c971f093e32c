import { isDeepStrictEqual } from "node:util";

/**
 * Whether two values are equal as JSON documents: object keys in any order, properties that
 * are `undefined` absent. State read back from the store is compared with state built in
 * memory, and Postgres's jsonb does not keep key order (it sorts keys by length, then bytes),
 * so comparing `JSON.stringify` outputs took a stored state for a changed one.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b;
  return isDeepStrictEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));
}

/**
 * JSON text with every object's keys sorted: one text per document, whichever store or
 * instance built it (for hashes and keys that must agree across instances).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}
