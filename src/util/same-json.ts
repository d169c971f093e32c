import { isDeepStrictEqual } from "node:util";

/**
 * Whether two values are equal as JSON documents: object keys in any order, properties that
 * are `undefined` absent. State read back from the store is compared with state built in
 * memory, and Postgres's jsonb does not keep key order (it sorts keys by length, then bytes),
 * so comparing `JSON.stringify` outputs took a stored state for a changed one.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b;
  const ta = JSON.stringify(a);
  const tb = JSON.stringify(b);
  // Equal texts are equal documents: the common case (both built in memory, or nothing
  // changed) costs two stringifies, as the comparison it replaced; only differing texts are
  // parsed and compared key by key.
  if (ta === tb) return true;
  return isDeepStrictEqual(JSON.parse(ta), JSON.parse(tb));
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
