/**
 * The YAML half of reading a spec: from text to plain data, refusing with file:line:column
 * everything a hostile or broken file can hold (an alias bomb, an alias to nowhere, a cycle,
 * several documents, binary garbage, a file caught empty mid-rewrite) before the schema sees it.
 *
 * @module
 */

import {
  type Document,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
} from "yaml";
import type { SpecProblem } from "./load.js";

/**
 * The largest spec read, in characters (about bytes). The admin API takes bodies up to 1 MiB, so
 * a larger spec could not be applied anyway; and it keeps a pathological file's parse short.
 */
export const MAX_SPEC_CHARS = 1_048_576;

/**
 * How many nodes aliases may add to the document, all aliases together. Sharing a block of
 * defaults among a few hundred services stays far below; a "billion laughs" bomb (each anchor
 * aliasing the one before nine times) passes it within a few lines.
 */
export const MAX_ALIAS_NODES = 100_000;

export type At = (offset: number) => { file: string; line: number; column: number };

/** A spec's text as a YAML document and the plain data it holds (a mapping). */
export interface SpecSource {
  doc: Document.Parsed;
  data: Record<string, unknown>;
  at: At;
}

/** Thrown with every problem found; `load.ts` turns it into a SpecError. */
export class SourceProblems extends Error {
  constructor(readonly problems: SpecProblem[]) {
    super(problems.map((p) => p.message).join("; "));
  }
}

/** Reads spec text as one YAML mapping; throws {@link SourceProblems}. */
export function readSpecSource(text: string, file: string): SpecSource {
  const lines = new LineCounter();
  const at: At = (offset) => {
    // Before the parse has counted lines (the size check), linePos answers 0:0.
    const pos = lines.linePos(offset);
    return { file, line: Math.max(1, pos.line), column: Math.max(1, pos.col) };
  };
  const refuse = (offset: number, message: string): never => {
    throw new SourceProblems([{ ...at(offset), path: "", message }]);
  };
  if (text.length > MAX_SPEC_CHARS) {
    refuse(0, `the spec is larger than 1 MiB (${text.length} characters), the most Aviary reads`);
  }
  // Before parsing, so the LineCounter knows the lines when a control character is reported.
  const control = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]/.exec(text);
  // logLevel error: what yaml would warn about on the process (a collection as a key) is
  // refused below with a position instead.
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    logLevel: "error",
  });
  if (control !== null) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    refuse(control.index, `the spec is not text: control character U+${code}`);
  }
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => ({
      ...at(e.pos[0]),
      path: "",
      message: yamlMessage(e),
    }));
    // Too deep a nesting fails once per open level: say it once, where it starts.
    const deep = problems.filter((p) => p.message === TOO_DEEP);
    const first = deep.reduce<SpecProblem | undefined>(
      (a, p) =>
        a === undefined || p.line < a.line || (p.line === a.line && p.column < a.column) ? p : a,
      undefined,
    );
    throw new SourceProblems(problems.filter((p) => p.message !== TOO_DEEP || p === first));
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    // A file caught mid-rewrite by config management is empty: serving "no services" from it
    // would take every route down.
    refuse(0, "the spec is empty (expected a mapping such as `services: [...]`)");
  }
  if (!isMap(root)) {
    const what = isSeq(root) ? "a list" : isAlias(root) ? "an alias" : "a single value";
    refuse(
      rangeStart(root) ?? 0,
      `expected a mapping at the top (services:, listen:, ...), found ${what}`,
    );
  }
  const problems = checkNodes(doc, at);
  if (problems.length > 0) throw new SourceProblems(problems);
  // The alias guard above replaces yaml's own (maxAliasCount), which counts uses of one anchor
  // and would refuse a legitimate spec sharing a block among more than 100 services.
  const data = doc.toJS({ maxAliasCount: -1 }) as Record<string, unknown>;
  return { doc, data, at };
}

const TOO_DEEP = "YAML: nested too deeply to read";

function yamlMessage(e: { code: string; message: string }): string {
  if (e.code === "MULTIPLE_DOCS")
    return "YAML: a second document starts here; a spec is one document (remove the '---')";
  if (/Maximum call stack/i.test(e.message)) return TOO_DEEP;
  return `YAML: ${firstLine(e.message)}`;
}

/**
 * One pass over the document in source order: every alias refers to an anchor set before it
 * and outside itself, the aliases together expand to at most {@link MAX_ALIAS_NODES} nodes,
 * and every key is a plain value (a list as a key would be flattened to text).
 */
function checkNodes(doc: Document.Parsed, at: At): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const anchors = new Map<string, Node>();
  const sizes = new Map<Node, number>();
  const open = new Set<Node>();
  let added = 0;
  let bombReported = false;
  const add = (node: unknown, message: string) =>
    problems.push({ ...at(rangeStart(node) ?? 0), path: "", message });

  const walk = (node: unknown): number => {
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target === undefined) {
        add(node, `YAML: alias *${node.source} refers to no anchor (&${node.source}) before it`);
        return 1;
      }
      if (open.has(target)) {
        add(node, `YAML: alias *${node.source} is inside the node &${node.source} names (a cycle)`);
        return 1;
      }
      const size = sizes.get(target) ?? 1;
      added += size;
      if (added > MAX_ALIAS_NODES && !bombReported) {
        bombReported = true;
        add(
          node,
          `YAML: aliases expand to more than ${MAX_ALIAS_NODES} nodes here (an alias bomb?)`,
        );
      }
      return size;
    }
    const anchor = (node as Node | null)?.anchor;
    if (anchor !== undefined && anchor !== null) anchors.set(anchor, node as Node);
    let size = 1;
    if (isCollection(node)) {
      open.add(node);
      for (const item of node.items) size += walk(item);
      open.delete(node);
    } else if (isPair(node)) {
      // A tagged scalar can hold an object too (`!!binary`, `!!timestamp`): not a key either.
      const key = node.key;
      if (
        key !== null &&
        !(isScalar(key) && (key.value === null || typeof key.value !== "object"))
      ) {
        add(node.key, "YAML: a key must be a plain value, not a list, mapping or alias");
      } else size += walk(node.key);
      size += walk(node.value);
    }
    if (isCollection(node) || isScalar(node)) sizes.set(node, size);
    return size;
  };
  walk(doc.contents);
  return problems;
}

export function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | undefined | null)?.range;
  return range ? range[0] : undefined;
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}
