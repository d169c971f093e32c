/**
 * The spec loader against random and mutated input (items 1, 8 and 11 of the hardening issue),
 * with fast-check: whatever the text, `parseSpec` either returns a spec or throws a SpecError
 * whose every problem names the file, a line and a column (≥ 1) and says something. Never
 * another exception, never a Node warning (a collection key used to print one), never the
 * loader's catch-all ("cannot read the spec"), which would mean an input nobody thought of.
 *
 * The seed is fixed so a run is repeatable; AVIARY_FUZZ_SEED and AVIARY_FUZZ_RUNS explore
 * further (a failure prints the seed and the shrunk input to replay).
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { parseSpec, SpecError } from "../../src/spec/load.js";

const SEED = Number(process.env.AVIARY_FUZZ_SEED ?? 20_261_204);
const RUNS = Number(process.env.AVIARY_FUZZ_RUNS ?? 500);
const FILE = "fuzz.yaml";

/** The property: a spec, or a SpecError locating every problem. */
function loadsOrLocates(text: string): void {
  let err: unknown;
  try {
    const spec = parseSpec(text, FILE);
    assert.ok(Array.isArray(spec.services));
    return;
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof SpecError, `not a SpecError: ${(err as Error)?.stack ?? String(err)}`);
  assert.ok(err.problems.length > 0, "a SpecError without problems");
  for (const p of err.problems) {
    assert.equal(p.file, FILE);
    assert.ok(Number.isInteger(p.line) && p.line >= 1, `line ${p.line}: ${p.message}`);
    assert.ok(Number.isInteger(p.column) && p.column >= 1, `column ${p.column}: ${p.message}`);
    assert.equal(typeof p.message, "string");
    assert.ok(p.message.length > 0);
    assert.doesNotMatch(p.message, /^cannot read the spec: /, "the loader's catch-all was reached");
  }
}

const check = (arb: fc.Arbitrary<string>) =>
  fc.assert(fc.property(arb, loadsOrLocates), { seed: SEED, numRuns: RUNS });

const EXAMPLE = readFileSync(
  join(import.meta.dirname, "..", "..", "examples", "aviary.yaml"),
  "utf8",
);

/** A spec touching most of the schema: a strategy with gates, analysis, notifications. */
const RICH = `listen: 127.0.0.1:8080
admin: 127.0.0.1:9900
proxy: { maxHeaderSize: 16384, drainTimeout: 10s }
metrics: { window: 15m }
controller: { tick: 1s }
services:
  - name: shop
    match: { host: shop.example.com, pathPrefix: /shop }
    stable: { version: v1, targets: [http://127.0.0.1:9001, http://127.0.0.1:9003] }
    canary: { version: v2, targets: [http://127.0.0.1:9002] }
    stickiness: { cookie: sid, setCookie: true, cookieMaxAge: 30d }
    routes:
      - match: { query: { beta: { prefix: "1" } }, cookies: { tier: { regex: "^gold$" } } }
        to: canary
    strategy:
      progressDeadline: 1h
      maxWeight: 50
      promotion: { hold: 1m, auto: true }
      gates:
        - { name: approve, type: confirm-promotion }
        - { name: smoke, type: pre-rollout, url: http://127.0.0.1:7000/smoke, timeout: 5s }
      steps:
        - setWeight: 5
        - pause: { duration: 2d }
        - analysis: { templates: [errors] }
        - setHeaderRoute: { name: testers, match: { headers: { x-tester: { exact: "yes" } } } }
        - setMirror: { percent: 10 }
        - setWeight: 50
        - pause: {}
analysisTemplates:
  - name: errors
    metrics:
      - name: error-rate
        interval: 10s
        count: 6
        provider: { builtin: { signal: errorRate } }
notifications:
  - name: chat
    url: http://127.0.0.1:7001/hook
    events: [rollout.started, promoted]
    timeout: 5s
`;

/** Values a mutation writes in place of another: wrong types, hostile YAML, edge numbers. */
const VALUES = [
  "",
  "~",
  "null",
  "true",
  "0",
  "-1",
  "1e400",
  "0x1F",
  ".nan",
  "[]",
  "{}",
  "[1, [2, [3]]]",
  "{ a: { b: c } }",
  "'quoted'",
  '"\\u0000"',
  "*a",
  "&a x",
  "&a [*a]",
  "!!binary AAAA",
  "!!str 5",
  "!custom x",
  "99999d",
  "0ms",
  "24d21h",
  "0.0.0.0:9900",
  "127.0.0.1:8080",
  "|\n  block",
  ">-\n  folded",
  "? [k]\n: v",
  "? !!binary AAAA\n: v",
  "%YAML 1.1\n---\n? !!timestamp 2001-12-14\n: v",
  "<<: *a",
  "{ <<: *a }",
  "http://user:pw@x/",
  "(a+)+$",
];

/** YAML-ish fragments random text is made of. */
const TOKENS = [
  ...VALUES,
  "\n",
  "\n  ",
  "\n    ",
  "\t",
  " ",
  "- ",
  ": ",
  ":",
  ",",
  "{",
  "}",
  "[",
  "]",
  "#",
  "---\n",
  "...\n",
  "%YAML 1.1\n",
  "%TAG ! tag:x,2000:\n",
  "&b ",
  "*b",
  "? ",
  "services",
  "listen",
  "admin",
  "name: s",
  "match:",
  "pathPrefix: /",
  "stable:",
  "version: v1",
  "targets:",
  "strategy:",
  "steps:",
  "pause:",
  "duration:",
  "\uFEFF",
  "\u0007",
  "\u00e9",
  "\ud83d\ude00",
  "\ud800",
];

/** A line-aware mutation of spec text. */
type Mutation = (text: string) => string;

const line = (lines: string[], i: number) => Math.min(i, Math.max(0, lines.length - 1));

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // Truncate at a random point: a file caught mid-write.
  fc
    .double({ min: 0, max: 1, noNaN: true })
    .map((f) => (t: string) => t.slice(0, Math.floor(t.length * f))),
  // Delete a line: a key (or the beginning of a block) gone.
  fc.nat().map((i) => (t: string) => {
    const lines = t.split("\n");
    lines.splice(line(lines, i), 1);
    return lines.join("\n");
  }),
  // Duplicate a line: a duplicate key, or a list item twice.
  fc.nat().map((i) => (t: string) => {
    const lines = t.split("\n");
    const at = line(lines, i);
    lines.splice(at, 0, lines[at] ?? "");
    return lines.join("\n");
  }),
  // Replace a value with one of another type or hostile YAML.
  fc.tuple(fc.nat(), fc.constantFrom(...VALUES)).map(([i, v]) => (t: string) => {
    const lines = t.split("\n");
    const at = line(lines, i);
    lines[at] = (lines[at] ?? "").replace(/:\s.*$|:$/, `: ${v}`);
    return lines.join("\n");
  }),
  // Put an anchor on one value and an alias (maybe before it, maybe inside it) on another.
  fc.tuple(fc.nat(), fc.nat()).map(([i, j]) => (t: string) => {
    const lines = t.split("\n");
    const a = line(lines, i);
    const b = line(lines, j);
    lines[a] = (lines[a] ?? "").replace(/: /, ": &x ");
    lines[b] = (lines[b] ?? "").replace(/:\s.*$/, ": *x");
    return lines.join("\n");
  }),
  // Re-indent a line: structure shifts.
  fc.tuple(fc.nat(), fc.integer({ min: -4, max: 4 })).map(([i, d]) => (t: string) => {
    const lines = t.split("\n");
    const at = line(lines, i);
    const l = lines[at] ?? "";
    lines[at] = d >= 0 ? " ".repeat(d) + l : l.replace(new RegExp(`^ {0,${-d}}`), "");
    return lines.join("\n");
  }),
  // Overwrite one character.
  fc.tuple(fc.nat(), fc.constantFrom(...TOKENS)).map(([i, s]) => (t: string) => {
    const at = t.length === 0 ? 0 : i % t.length;
    return t.slice(0, at) + s + t.slice(at + 1);
  }),
);

/** One to four mutations of a valid spec. */
const mutated = fc
  .tuple(fc.constantFrom(EXAMPLE, RICH), fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([text, ms]) => ms.reduce((t, m) => m(t), text));

/** Plain data as YAML: spec keys at the top (so the schema is reached), anything below. */
const SPEC_KEYS = [
  "listen",
  "admin",
  "proxy",
  "metrics",
  "controller",
  "services",
  "analysisTemplates",
  "auth",
  "notifications",
  "other",
];
const tree = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(
      null,
      true,
      false,
      0,
      -1,
      1.5,
      1e308,
      "",
      "10s",
      "v1",
      "/",
      "http://127.0.0.1:1",
    ),
    fc.string(),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(
      fc.constantFrom(
        "name",
        "match",
        "stable",
        "canary",
        "version",
        "targets",
        "weight",
        "strategy",
        "steps",
        "pause",
        "duration",
        "x",
      ),
      tie("value"),
      { maxKeys: 4 },
    ),
  ),
}));
const randomTrees = fc
  .dictionary(fc.constantFrom(...SPEC_KEYS), tree.value, { maxKeys: 5 })
  .map((data) => stringify(data));

// From the start: a warning is emitted on the next tick, after the run that caused it.
const warnings: string[] = [];
const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
process.on("warning", onWarning);
after(() => process.off("warning", onWarning));

describe("parseSpec under fuzzing", { timeout: 120_000 }, () => {
  it("the valid seeds are valid", () => {
    parseSpec(EXAMPLE, FILE);
    parseSpec(RICH, FILE);
  });

  it("random YAML-ish text: a spec or located problems", () => {
    check(fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((parts) => parts.join("")));
  });

  it("random characters: a spec or located problems", () => {
    check(fc.string({ unit: "binary", maxLength: 200 }));
  });

  it("random trees serialized to YAML: a spec or located problems", () => {
    check(randomTrees);
  });

  it("mutations of valid specs (deleted, duplicated, retyped, aliased, truncated): a spec or located problems", () => {
    check(mutated);
  });

  it("raised no Node warning", () => {
    assert.deepEqual(warnings, []);
  });
});
