/**
 * Reading a spec: YAML with source positions, then the schema. Every problem is reported at
 * once, each with file:line:column and the field path, so one edit-and-retry fixes them all.
 *
 * @module
 */

import { open } from "node:fs/promises";
import { isMap, isPair, isScalar, isSeq } from "yaml";
import type { z } from "zod";
import { AviaryError } from "../errors.js";
import { Spec } from "./schema.js";
import {
  type At,
  MAX_SPEC_CHARS,
  rangeStart,
  readSpecSource,
  SourceProblems,
} from "./yaml-source.js";

/** One problem in a spec, located as precisely as the source allows. */
export interface SpecProblem {
  file: string;
  line: number;
  column: number;
  /** Dotted field path (`services[0].stable.targets[1]`), empty for the document itself. */
  path: string;
  message: string;
}

export class SpecError extends AviaryError {
  readonly problems: SpecProblem[];
  constructor(problems: SpecProblem[]) {
    super(
      "AVIARY_SPEC_INVALID",
      `${problems.length} problem${problems.length === 1 ? "" : "s"} in the spec:\n${problems.map(formatProblem).join("\n")}`,
    );
    this.problems = problems;
  }
}

/** `file:line:column: path: message`, the shape editors and terminals turn into links. */
export function formatProblem(p: SpecProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.path ? `${p.path}: ` : ""}${p.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Parses and validates spec text; throws {@link SpecError} listing every problem. */
export function parseSpec(text: string, file = "<spec>"): Spec {
  try {
    const { doc, data, at } = readSpecSource(text, file);
    // reportInput: an issue then carries the value it was about, which tells a wrong value
    // (`weight: ten`) from a missing one; without it zod leaves `input` out of every issue.
    const result = Spec.safeParse(data, { reportInput: true });
    if (result.success) return result.data;
    const problems = result.error.issues.map((issue) => locateIssue(issue, doc.contents, at));
    problems.sort((a, b) => a.line - b.line || a.column - b.column);
    throw new SpecError(problems);
  } catch (err) {
    if (err instanceof SpecError) throw err;
    if (err instanceof SourceProblems) throw new SpecError(err.problems);
    // Whatever else a hostile file provokes is still a refusal naming the file, never a crash
    // with a stack trace (nor a 500 from the API).
    const message = err instanceof Error ? err.message : String(err);
    throw new SpecError([
      {
        file,
        line: 1,
        column: 1,
        path: "",
        message: `cannot read the spec: ${firstLine(message)}`,
      },
    ]);
  }
}

/** Reads and validates a spec file: at most {@link MAX_SPEC_CHARS} bytes of UTF-8 text. */
export async function loadSpecFile(file: string): Promise<Spec> {
  let bytes: Buffer;
  try {
    bytes = await readAtMost(file, MAX_SPEC_CHARS + 1);
  } catch (err) {
    throw new AviaryError(
      "AVIARY_SPEC_UNREADABLE",
      `cannot read ${file}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const refuse = (line: number, message: string): never => {
    throw new SpecError([{ file, line, column: 1, path: "", message }]);
  };
  if (bytes.length > MAX_SPEC_CHARS) {
    refuse(1, "the file is larger than 1 MiB, the most Aviary reads as a spec");
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const lossy = new TextDecoder("utf-8").decode(bytes);
    const bad = lossy.indexOf("\uFFFD");
    const line = lossy.slice(0, Math.max(0, bad)).split("\n").length;
    return refuse(line, "the spec is not UTF-8 text");
  }
  return parseSpec(text, file);
}

/** Up to `limit` bytes of a file: a huge file (or /dev/zero) is never read whole. */
async function readAtMost(file: string, limit: number): Promise<Buffer> {
  const handle = await open(file, "r");
  try {
    const buffer = Buffer.alloc(limit);
    let filled = 0;
    while (filled < limit) {
      const { bytesRead } = await handle.read(buffer, filled, limit - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

function locateIssue(issue: z.core.$ZodIssue, root: unknown, at: At): SpecProblem {
  let path = issue.path as PropertyKey[];
  // A rule about two fields names the one to blame (`admin`), and the other (`orAt`) when the
  // first is not written in the file (left at its default).
  const orAt =
    issue.code === "custom" ? (issue.params?.orAt as PropertyKey[] | undefined) : undefined;
  if (orAt !== undefined && nodeAt(root, path) === undefined) path = orAt;
  // An unknown key points at the key itself, not at the object holding it.
  if (issue.code === "unrecognized_keys") {
    const owner = nodeAt(root, path);
    const key = issue.keys[0];
    const pair = isMap(owner)
      ? owner.items.find((p) => isScalar(p.key) && p.key.value === key)
      : undefined;
    const where = rangeStart(pair?.key) ?? rangeStart(owner) ?? 0;
    const names = issue.keys.map((k) => `'${k}'`).join(", ");
    return {
      ...at(where),
      path: formatPath([...path, ...(issue.keys.length === 1 ? [key as string] : [])]),
      message: `unknown field${issue.keys.length === 1 ? "" : "s"} ${names}`,
    };
  }
  // A refused map key points at the key, not at its value.
  if (issue.code === "invalid_key") {
    const owner = nodeAt(root, path.slice(0, -1));
    const key = path[path.length - 1];
    const pair = isMap(owner)
      ? owner.items.find((p) => isScalar(p.key) && p.key.value === key)
      : undefined;
    const where = rangeStart(pair?.key) ?? rangeStart(owner) ?? 0;
    return { ...at(where), path: formatPath(path), message: describeIssue(issue) };
  }
  // A missing field has no node: point at the nearest ancestor that exists.
  let node: unknown;
  for (let depth = path.length; depth >= 0; depth--) {
    node = nodeAt(root, path.slice(0, depth));
    if (node !== undefined) break;
  }
  return { ...at(rangeStart(node) ?? 0), path: formatPath(path), message: describeIssue(issue) };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type" && issue.input === undefined)
    return "required field is missing";
  // A map's key (a header name, a variant name) refused: say which key and why, not zod's
  // "Invalid key in record".
  if (issue.code === "invalid_key") {
    const inner = issue.issues[0];
    const key = issue.path[issue.path.length - 1];
    return `invalid name ${JSON.stringify(String(key))}${inner === undefined ? "" : `: ${describeIssue(inner)}`}`;
  }
  if (issue.code === "invalid_union") {
    // A branch that matched the shape and failed only inside says more than the union does.
    const inner = issue.errors.find(
      (branch) =>
        branch.length > 0 &&
        branch.every(
          (i) =>
            i.code !== "unrecognized_keys" && !(i.code === "invalid_type" && i.input === undefined),
        ),
    );
    if (inner !== undefined) {
      const first = inner[0] as z.core.$ZodIssue;
      const where = first.path.length > 0 ? `${formatPath(first.path as PropertyKey[])}: ` : "";
      return `${where}${describeIssue(first)}`;
    }
    // Unions of one-key objects (`exact` | `prefix` | `regex`): say which keys are allowed.
    const keys = issue.errors
      .flatMap((branch) =>
        branch.filter((i) => i.code === "unrecognized_keys").flatMap((i) => i.keys),
      )
      .filter((k, i, all) => all.indexOf(k) === i);
    if (keys.length > 0)
      return `unexpected ${keys.map((k) => `'${k}'`).join(", ")}; ${issue.message}`;
  }
  return issue.message;
}

function nodeAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
      node = pair?.value ?? undefined;
    } else if (isSeq(node) && typeof key === "number") {
      node = node.items[key];
    } else return undefined;
    if (node === undefined || node === null) return undefined;
  }
  return node;
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}
