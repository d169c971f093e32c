/**
 * A small JSONPath subset, enough to pick one number out of a JSON answer: `$`, `.name`,
 * `['name']` / `["name"]`, and array indexes `[0]` (negative counts from the end: `[-1]` is the
 * last element). No wildcards, filters or slices: a metric is one value, and a path that could
 * select several is a mistake to report, not to guess at.
 *
 * @module
 */

export type PathStep = { key: string } | { index: number };

/** A parsed path, kept with its text for messages. */
export interface JsonPath {
  text: string;
  steps: PathStep[];
}

/** Parses `text`; throws an Error naming the position of the first thing it cannot read. */
export function parseJsonPath(text: string): JsonPath {
  if (!text.startsWith("$")) throw new Error(`JSON path ${JSON.stringify(text)} must start with $`);
  const steps: PathStep[] = [];
  let i = 1;
  const fail = (what: string): never => {
    throw new Error(`JSON path ${JSON.stringify(text)}: ${what} at position ${i}`);
  };
  while (i < text.length) {
    const c = text[i];
    if (c === ".") {
      const m = /^[A-Za-z_$][\w$-]*/.exec(text.slice(i + 1));
      if (m === null) fail("expected a name after '.'");
      steps.push({ key: (m as RegExpExecArray)[0] });
      i += 1 + (m as RegExpExecArray)[0].length;
    } else if (c === "[") {
      const rest = text.slice(i);
      const index = /^\[\s*(-?\d+)\s*\]/.exec(rest);
      const quoted = /^\[\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]/.exec(rest);
      if (index !== null) {
        steps.push({ index: Number(index[1]) });
        i += index[0].length;
      } else if (quoted !== null) {
        const raw = quoted[1] ?? quoted[2] ?? "";
        steps.push({ key: raw.replace(/\\(.)/g, "$1") });
        i += quoted[0].length;
      } else {
        fail("expected [index] or ['name'] (wildcards, filters and slices are not supported)");
      }
    } else {
      fail(`unexpected ${JSON.stringify(c)}`);
    }
  }
  return { text, steps };
}

/** What a path found: a value, or where it stopped and why. */
export type PathResult =
  | { found: true; value: unknown }
  | {
      found: false;
      at: string;
      reason: "missing-key" | "index-out-of-range" | "not-a-container";
      got: unknown;
    };

/** Follows `path` through `doc`. */
export function evaluateJsonPath(path: JsonPath, doc: unknown): PathResult {
  let here: unknown = doc;
  let at = "$";
  for (const step of path.steps) {
    if ("key" in step) {
      if (here === null || typeof here !== "object" || Array.isArray(here)) {
        return { found: false, at, reason: "not-a-container", got: here };
      }
      if (!Object.hasOwn(here, step.key))
        return { found: false, at, reason: "missing-key", got: here };
      here = (here as Record<string, unknown>)[step.key];
      at += /^[A-Za-z_$][\w$-]*$/.test(step.key) ? `.${step.key}` : `[${JSON.stringify(step.key)}]`;
    } else {
      if (!Array.isArray(here)) return { found: false, at, reason: "not-a-container", got: here };
      const i = step.index < 0 ? here.length + step.index : step.index;
      if (i < 0 || i >= here.length)
        return { found: false, at, reason: "index-out-of-range", got: here };
      here = here[i];
      at += `[${step.index}]`;
    }
  }
  return { found: true, value: here };
}
