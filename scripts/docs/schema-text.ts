/**
 * JSON Schema, as `z.toJSONSchema` writes it, turned into the words a reference table shows:
 * a field's type, its allowed values and its default. Shared by the spec reference and the API
 * reference, so a field reads the same in both.
 *
 * @module
 */

import { code } from "./markdown.js";

export type JsonSchema = Record<string, unknown>;

/** The kinds `x-aviary-type` names on strings (see `src/spec/schema-parts.ts`). */
const STRING_KINDS: Record<string, string> = { duration: "duration", address: "address" };

const SAFE = Number.MAX_SAFE_INTEGER;

export function isObject(x: unknown): x is JsonSchema {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

export function propertiesOf(s: JsonSchema): Record<string, JsonSchema> {
  return isObject(s.properties) ? (s.properties as Record<string, JsonSchema>) : {};
}

export function requiredOf(s: JsonSchema): Set<string> {
  return new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
}

export function variantsOf(s: JsonSchema): JsonSchema[] | undefined {
  const list = s.anyOf ?? s.oneOf;
  return Array.isArray(list) ? (list as JsonSchema[]) : undefined;
}

/** An object with named fields (not a map). */
export function isFieldObject(s: JsonSchema): boolean {
  return s.type === "object" && isObject(s.properties);
}

/** A map: an object whose keys are chosen by the writer. */
export function isMap(s: JsonSchema): boolean {
  return s.type === "object" && !isObject(s.properties) && isObject(s.additionalProperties);
}

/**
 * A union whose every variant is an object with exactly one key and nothing else, as the
 * spec's steps, providers and judges are: the key says which variant it is.
 */
export function isKeyedUnion(s: JsonSchema): boolean {
  const variants = variantsOf(s);
  return (
    variants !== undefined &&
    variants.length > 0 &&
    variants.every(
      (v) =>
        isFieldObject(v) &&
        Object.keys(propertiesOf(v)).length === 1 &&
        v.additionalProperties === false,
    )
  );
}

/** The type of a scalar schema in a word: string, duration, integer, number, boolean, ... */
export function scalarType(s: JsonSchema): string {
  const kind = typeof s["x-aviary-type"] === "string" ? STRING_KINDS[s["x-aviary-type"]] : "";
  if (kind) return kind;
  if (typeof s.type === "string") return s.type;
  if (Array.isArray(s.type)) return (s.type as string[]).join(" or ");
  if (s.const !== undefined) return typeof s.const;
  if (Array.isArray(s.enum)) return "string";
  return "any";
}

/** What values are accepted, beyond the type: ranges, lengths, patterns, enums. */
export function allowedText(s: JsonSchema): string {
  const parts: string[] = [];
  if (Array.isArray(s.enum)) parts.push(`one of ${s.enum.map((v) => code(String(v))).join(", ")}`);
  if (s.const !== undefined) parts.push(`only ${code(JSON.stringify(s.const))}`);
  const range = rangeText(s);
  if (range) parts.push(range);
  // Durations carry their bounds as text (`x-aviary-min`/`x-aviary-max`, see durationWithin).
  const [dMin, dMax] = [s["x-aviary-min"], s["x-aviary-max"]];
  if (typeof dMin === "string" && typeof dMax === "string")
    parts.push(`${code(dMin)} to ${code(dMax)}`);
  else if (typeof dMax === "string") parts.push(`at most ${code(dMax)}`);
  if (typeof s.minLength === "number")
    parts.push(s.minLength === 1 ? "not empty" : `at least ${s.minLength} characters`);
  if (typeof s.maxLength === "number") parts.push(`at most ${s.maxLength} characters`);
  if (s.format === "starts_with" && typeof s.pattern === "string") {
    parts.push(`starts with ${code(unescapePrefix(s.pattern))}`);
  } else {
    if (typeof s.format === "string") parts.push(`format ${s.format}`);
    if (typeof s.pattern === "string") parts.push(`pattern ${code(s.pattern)}`);
  }
  if (s.type === "array") {
    if (typeof s.minItems === "number") parts.push(`at least ${s.minItems}`);
    if (typeof s.maxItems === "number") parts.push(`at most ${s.maxItems}`);
    if (isObject(s.items) && !isFieldObject(s.items) && variantsOf(s.items) === undefined) {
      const each = allowedText(s.items);
      if (each) parts.push(`each: ${each}`);
    }
  }
  if (isMap(s) && isObject(s.propertyNames)) {
    const names = allowedText(s.propertyNames);
    if (names) parts.push(`names: ${names}`);
  }
  return parts.join("; ");
}

function rangeText(s: JsonSchema): string {
  const num = (x: unknown): x is number => typeof x === "number" && Math.abs(x) < SAFE;
  const lo = num(s.minimum) ? { v: s.minimum, open: false } : undefined;
  const loX = num(s.exclusiveMinimum) ? { v: s.exclusiveMinimum, open: true } : undefined;
  const hi = num(s.maximum) ? { v: s.maximum, open: false } : undefined;
  const hiX = num(s.exclusiveMaximum) ? { v: s.exclusiveMaximum, open: true } : undefined;
  const low = loX ?? lo;
  const high = hiX ?? hi;
  if (low && high && !low.open && !high.open) return `${low.v} to ${high.v}`;
  const out: string[] = [];
  if (low) out.push(`${low.open ? ">" : "≥"} ${low.v}`);
  if (high) out.push(`${high.open ? "<" : "≤"} ${high.v}`);
  return out.join(", ");
}

/** `^\/.*` (zod's startsWith) back to `/`. */
function unescapePrefix(pattern: string): string {
  return pattern.replace(/^\^/, "").replace(/\.\*$/, "").replace(/\\(.)/g, "$1");
}

/** The default as it would be written in YAML or JSON, or "" when there is none. */
export function defaultText(s: JsonSchema): string {
  if (!("default" in s)) return "";
  const d = s.default;
  return typeof d === "string" ? code(d) : code(JSON.stringify(d));
}

/** The schema without the annotations a use site adds, to recognise the same shape elsewhere. */
export function shapeKey(s: JsonSchema): string {
  const { description: _d, default: _v, ...rest } = s;
  return JSON.stringify(rest);
}
