/**
 * The documentation says what the code does: README.md and docs/*.md are read the way a user
 * would copy from them, and every spec, command and link in them is checked against the code.
 *
 * - **Specs.** A fenced `yaml` block whose top level has a spec key (`listen`, `services`,
 *   `analysisTemplates`, `notifications`, ...) must validate as a whole spec (`parseSpec`).
 *   A block that is deliberately partial says what it is on the line before its fence:
 *   `<!-- fragment: KIND -->`, where KIND is one of {@link FRAGMENT_KINDS}; it is placed into a
 *   minimal spec at that spot (a service's strategy, a template's metric, ...) and must
 *   validate there. `<!-- not-a-spec -->` exempts a block that only looks like a spec (a
 *   deliberately broken example, another tool's file). Any other `yaml` block must at least
 *   be valid YAML.
 * - **Commands.** Every `aviary VERB [SUB-VERB]` in a code block or inline code names a verb
 *   `buildProgram()` has, and every `-x` / `--flag` written after it on the same command line
 *   (up to `|`, `;`, `&&`, `>` or a `#` comment) is an option of that verb.
 * - **Links.** Relative links name files that exist, and `#anchors` name headings of the page
 *   they point into (GitHub's anchors).
 * - **Generated pages.** docs/spec-reference.md, docs/cli.md and docs/api.md equal what
 *   `npm run docs` generates now.
 *
 * Each checker is also run on bad input here, so a check that could never fail would show.
 */

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { describe, it } from "node:test";
import type { Command } from "commander";
import { parse as parseYaml, stringify } from "yaml";
import { slug } from "../scripts/docs/markdown.js";
import { generateDocs, staleDocs } from "../scripts/gen-docs.js";
import { buildProgram } from "../src/cli/program.js";
import { parseSpec, SpecError } from "../src/spec/load.js";
import { Spec } from "../src/spec/schema.js";

const ROOT = join(import.meta.dirname, "..");

/** The pages checked: the README and every Markdown file under docs/. */
function docFiles(): string[] {
  const docs = readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`);
  return ["README.md", ...docs];
}

function read(file: string): string {
  return readFileSync(join(ROOT, file), "utf8");
}

// ---- Markdown, as far as these checks need it ----

interface Block {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  text: string;
  /** `fragment: KIND` or `not-a-spec`, from an HTML comment on the line before the fence. */
  marker: string | undefined;
}

interface Span {
  file: string;
  line: number;
  text: string;
}

/** Fenced code blocks, and the text outside them as paragraphs (with their first line). */
function parseMarkdown(file: string, text: string): { blocks: Block[]; paragraphs: Span[] } {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  const paragraphs: Span[] = [];
  let para: string[] = [];
  let paraLine = 0;
  const flush = () => {
    if (para.length > 0) paragraphs.push({ file, line: paraLine, text: para.join("\n") });
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const fence = /^\s*(`{3,}|~{3,})\s*([\w+-]*)/.exec(line);
    if (fence) {
      flush();
      const close = fence[1] as string;
      const start = i;
      const body: string[] = [];
      for (i++; i < lines.length && !(lines[i] as string).trim().startsWith(close); i++)
        body.push(lines[i] as string);
      let j = start - 1;
      while (j >= 0 && (lines[j] as string).trim() === "") j--;
      const comment = j >= 0 ? /^<!--\s*(.+?)\s*-->$/.exec((lines[j] as string).trim()) : null;
      blocks.push({
        file,
        line: start + 1,
        lang: (fence[2] ?? "").toLowerCase(),
        text: body.join("\n"),
        marker: comment?.[1],
      });
      continue;
    }
    if (line.trim() === "") flush();
    else {
      if (para.length === 0) paraLine = i + 1;
      para.push(line);
    }
  }
  flush();
  return { blocks, paragraphs };
}

/** Inline code spans of a paragraph (they may run across its lines). */
function inlineCode(p: Span): Span[] {
  const out: Span[] = [];
  for (const m of p.text.matchAll(/(?<!`)(`+)(?!`)([\s\S]+?)(?<!`)\1(?!`)/g)) {
    const line = p.line + (p.text.slice(0, m.index).match(/\n/g)?.length ?? 0);
    out.push({ file: p.file, line, text: (m[2] as string).replace(/\s*\n\s*/g, " ").trim() });
  }
  return out;
}

// ---- specs ----

const BASE_SERVICE = {
  name: "fragment",
  match: { pathPrefix: "/fragment" },
  stable: { version: "v1", targets: ["http://127.0.0.1:9001"] },
};

/** Where a `<!-- fragment: KIND -->` block goes in a minimal spec. */
const FRAGMENT_KINDS: Record<string, (doc: unknown) => unknown> = {
  service: (d) => ({ services: [d] }),
  strategy: (d) => ({ services: [{ ...BASE_SERVICE, strategy: d }] }),
  gate: (d) => ({
    services: [{ ...BASE_SERVICE, strategy: { steps: [{ setWeight: 10 }], gates: [d] } }],
  }),
  analysisTemplate: (d) => ({ analysisTemplates: [d] }),
  metric: (d) => ({ analysisTemplates: [{ name: "fragment", metrics: [d] }] }),
  notification: (d) => ({ notifications: [d] }),
  flag: (d) => ({ flags: [d] }),
};

const SPEC_KEYS = new Set(Object.keys(Spec.shape));

function isMapping(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Every problem of the yaml blocks of `blocks`, as `file:line: ...`. */
function specProblems(blocks: readonly Block[]): string[] {
  const problems: string[] = [];
  for (const b of blocks) {
    if (b.lang !== "yaml" && b.lang !== "yml") continue;
    const at = `${b.file}:${b.line}`;
    if (b.marker === "not-a-spec") continue;
    let doc: unknown;
    try {
      doc = parseYaml(b.text);
    } catch (err) {
      problems.push(`${at}: not valid YAML: ${(err as Error).message.split("\n")[0]}`);
      continue;
    }
    const fragment = b.marker?.startsWith("fragment:")
      ? b.marker.slice("fragment:".length).trim()
      : undefined;
    if (b.marker !== undefined && fragment === undefined) {
      problems.push(
        `${at}: unknown marker <!-- ${b.marker} -->; use <!-- fragment: KIND --> or <!-- not-a-spec -->`,
      );
      continue;
    }
    if (fragment !== undefined) {
      const wrap = FRAGMENT_KINDS[fragment];
      if (wrap === undefined) {
        problems.push(
          `${at}: unknown fragment kind '${fragment}' (known: ${Object.keys(FRAGMENT_KINDS).join(", ")})`,
        );
        continue;
      }
      try {
        parseSpec(stringify(wrap(doc)), `${at} (a ${fragment} fragment)`);
      } catch (err) {
        problems.push(describeSpecError(err, `${at}: the ${fragment} fragment`));
      }
      continue;
    }
    const looksLikeSpec = isMapping(doc) && Object.keys(doc).some((k) => SPEC_KEYS.has(k));
    if (!looksLikeSpec) continue;
    try {
      parseSpec(b.text, b.file);
    } catch (err) {
      problems.push(describeSpecError(err, at, b.line));
    }
  }
  return problems;
}

/** A spec error's problems, their lines moved from the block to the page. */
function describeSpecError(err: unknown, at: string, blockLine?: number): string {
  if (!(err instanceof SpecError)) return `${at}: ${String(err)}`;
  const lines = err.problems.map((p) =>
    blockLine === undefined
      ? `  ${p.path ? `${p.path}: ` : ""}${p.message}`
      : `  ${p.file}:${blockLine + p.line}:${p.column}: ${p.path ? `${p.path}: ` : ""}${p.message}`,
  );
  return `${at}: not a valid spec (mark a deliberate part with <!-- fragment: KIND --> or <!-- not-a-spec -->):\n${lines.join("\n")}`;
}

// ---- commands ----

/** Words after `aviary` on one command line, up to a shell separator or a comment. */
function commandWords(rest: string): string[] {
  const words: string[] = [];
  for (const m of rest.matchAll(/'[^']*'|"[^"]*"|\S+/g)) {
    const w = m[0];
    if (/^(\||\|\||&&|;|>|>>|2>|&)$/.test(w) || w.startsWith("#")) break;
    words.push(w.replace(/[;,.]$/, ""));
    if (/;$/.test(w)) break;
  }
  return words;
}

/**
 * `aviary` where a command starts: at the start of the code or of a line, or after `|`, `;`,
 * `&&`, `(`, `$(` or a backtick; after an optional `$ ` prompt, `NAME=value` assignments and
 * `npx`. "aviary serving" in the middle of a log line is not a command.
 */
const COMMAND_START =
  /(?:^|[|;&(`]|\$\()[ \t]*(?:\$[ \t]+)?(?:[A-Z_][A-Z0-9_]*=\S*[ \t]+)*(?:npx[ \t]+)?aviary[ \t]+(?=[a-z])/g;

/** Every `aviary VERB ...` in a piece of code, with its words. */
function mentions(span: Span): Array<{ at: string; words: string[] }> {
  const out: Array<{ at: string; words: string[] }> = [];
  span.text.split("\n").forEach((line, i) => {
    for (const m of line.matchAll(COMMAND_START)) {
      const words = commandWords(line.slice((m.index ?? 0) + m[0].length).split("`")[0] ?? "");
      if (words.length > 0) out.push({ at: `${span.file}:${span.line + i}`, words });
    }
  });
  return out;
}

function hasOption(cmd: Command, flag: string): boolean {
  if (flag === "-h" || flag === "--help") return true;
  return cmd.options.some((o) => o.long === flag || o.short === flag);
}

/** Every problem of the `aviary` command lines in `spans` against the command tree. */
function cliProblems(spans: readonly Span[], program: Command): string[] {
  const problems: string[] = [];
  for (const span of spans) {
    for (const { at, words } of mentions(span)) {
      const [verb, ...rest] = words as [string, ...string[]];
      if (!/^[a-z][a-z-]*$/.test(verb)) continue;
      let cmd = program.commands.find((c) => c.name() === verb);
      if (cmd === undefined) {
        problems.push(`${at}: \`aviary ${verb}\` is not a verb of buildProgram()`);
        continue;
      }
      let name = `aviary ${verb}`;
      const first = rest[0];
      if (cmd.commands.length > 0 && first !== undefined && /^[a-z][a-z-]*$/.test(first)) {
        const sub = cmd.commands.find((c) => c.name() === first);
        if (sub === undefined) {
          problems.push(`${at}: \`${name} ${first}\` is not a sub-verb of ${name}`);
          continue;
        }
        cmd = sub;
        name = `${name} ${first}`;
        rest.shift();
      }
      for (const word of rest) {
        const flag = /^\[?(--?[A-Za-z][\w-]*)/.exec(word)?.[1];
        if (flag !== undefined && !hasOption(cmd, flag))
          problems.push(`${at}: \`${name}\` has no option ${flag}`);
      }
    }
  }
  return problems;
}

// ---- links ----

/** GitHub's anchors of a page: its headings' slugs (repeats get -1, -2, ...) and `<a id>`s. */
function anchorsOf(text: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  const { paragraphs } = parseMarkdown("", text);
  for (const p of paragraphs) {
    for (const line of p.text.split("\n")) {
      const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
      if (h) {
        const base = slug(h[1] as string);
        const n = seen.get(base) ?? 0;
        seen.set(base, n + 1);
        out.add(n === 0 ? base : `${base}-${n}`);
      }
      for (const a of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) out.add(a[1] as string);
    }
  }
  return out;
}

function linkProblems(pages: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  for (const [file, text] of pages) {
    const { paragraphs } = parseMarkdown(file, text);
    for (const p of paragraphs) {
      // Links inside inline code are not links.
      const prose = p.text.replace(/(`+)[\s\S]+?\1/g, (s) => s.replace(/[[\]()]/g, " "));
      for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = m[1] as string;
        if (/^[a-z][a-z+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        const line = p.line + (prose.slice(0, m.index).match(/\n/g)?.length ?? 0);
        const [path, anchor] = target.split("#") as [string, string | undefined];
        const into = path === "" ? file : normalize(join(dirname(file), path));
        if (path !== "" && !existsSync(join(ROOT, into))) {
          problems.push(`${file}:${line}: link to ${target}: ${into} does not exist`);
          continue;
        }
        if (anchor === undefined || anchor === "") continue;
        if (!into.endsWith(".md")) continue;
        const page = pages.get(into) ?? read(into);
        if (!anchorsOf(page).has(anchor))
          problems.push(`${file}:${line}: link to ${target}: ${into} has no heading #${anchor}`);
      }
    }
  }
  return problems;
}

// ---- the checks ----

function pages(): Map<string, string> {
  return new Map(docFiles().map((f) => [f, read(f)]));
}

function codeSpans(all: ReadonlyMap<string, string>): Span[] {
  const spans: Span[] = [];
  for (const [file, text] of all) {
    const { blocks, paragraphs } = parseMarkdown(file, text);
    for (const b of blocks) spans.push({ file: b.file, line: b.line + 1, text: b.text });
    for (const p of paragraphs) spans.push(...inlineCode(p));
  }
  return spans;
}

describe("the documentation", () => {
  const all = pages();

  it("covers the README and the docs pages", () => {
    for (const f of ["README.md", "docs/analysis.md", "docs/operations.md", "docs/api.md"])
      assert.ok(all.has(f), `${f} is checked`);
  });

  it("every spec in it validates (fragments where they are marked)", () => {
    const blocks = [...all].flatMap(([file, text]) => parseMarkdown(file, text).blocks);
    const checked = blocks.filter((b) => b.lang === "yaml" && b.marker !== "not-a-spec");
    assert.ok(checked.length >= 10, `found only ${checked.length} yaml blocks`);
    const problems = specProblems(blocks);
    assert.deepEqual(problems, [], `\n${problems.join("\n")}`);
  });

  it("every spec under examples/ validates", () => {
    const files = readdirSync(join(ROOT, "examples")).filter((f) => /\.ya?ml$/.test(f));
    assert.ok(files.length > 0, "examples/ holds specs");
    const problems: string[] = [];
    for (const f of files) {
      const at = `examples/${f}`;
      try {
        parseSpec(readFileSync(join(ROOT, at), "utf8"), at);
      } catch (err) {
        if (!(err instanceof SpecError)) throw err;
        for (const p of err.problems)
          problems.push(
            `${p.file}:${p.line}:${p.column}: ${p.path ? `${p.path}: ` : ""}${p.message}`,
          );
      }
    }
    assert.deepEqual(problems, [], `\n${problems.join("\n")}`);
  });

  it("every aviary verb, sub-verb and flag it mentions exists", () => {
    const spans = codeSpans(all);
    const found = spans.flatMap(mentions);
    assert.ok(found.length >= 50, `found only ${found.length} aviary command lines`);
    const problems = cliProblems(spans, buildProgram());
    assert.deepEqual(problems, [], `\n${problems.join("\n")}`);
  });

  it("every relative link and anchor resolves", () => {
    const problems = linkProblems(all);
    assert.deepEqual(problems, [], `\n${problems.join("\n")}`);
  });

  it("the generated pages are up to date and say so on their first line", () => {
    const generated = generateDocs();
    for (const [path, text] of Object.entries(generated))
      assert.match(
        text.split("\n")[0] ?? "",
        /^<!-- Generated by `npm run docs`.*Do not edit by hand/,
        path,
      );
    const stale = staleDocs(generated);
    assert.deepEqual(
      stale,
      [],
      `out of date: ${stale.join(", ")}; run \`npm run docs\` and commit the result`,
    );
  });
});

describe("the documentation checks catch what they are for", () => {
  const md = (text: string) => parseMarkdown("docs/x.md", text);

  it("a spec that does not validate, a bad fragment, broken YAML, an unknown marker", () => {
    const { blocks } = md(
      [
        "```yaml",
        "services:",
        "  - name: Checkout", // upper case: not a name
        "    match: { pathPrefix: /c }",
        "    stable: { version: v1, targets: [http://127.0.0.1:1] }",
        "```",
        "<!-- fragment: strategy -->",
        "```yaml",
        "steps: [{ setWeight: 500 }]",
        "```",
        "```yaml",
        "listen: [unclosed",
        "```",
        "<!-- fragment: nonsense -->",
        "```yaml",
        "a: 1",
        "```",
        "<!-- not-a-spec -->",
        "```yaml",
        "services: 3",
        "```",
      ].join("\n"),
    );
    const problems = specProblems(blocks);
    assert.equal(problems.length, 4, problems.join("\n"));
    assert.match(
      problems[0] ?? "",
      /docs\/x\.md:1: .*\n {2}docs\/x\.md:3:\d+: services\[0\]\.name/,
    );
    assert.match(problems[1] ?? "", /the strategy fragment.*\n.*steps\[0\]\.setWeight/s);
    assert.match(problems[2] ?? "", /docs\/x\.md:11: not valid YAML/);
    assert.match(problems[3] ?? "", /unknown fragment kind 'nonsense'/);
  });

  it("a fragment that is valid where it is marked passes", () => {
    const { blocks } = md(
      [
        "<!-- fragment: metric -->",
        "```yaml",
        "name: errors",
        "provider: { builtin: { signal: errorRate } }",
        "```",
      ].join("\n"),
    );
    assert.deepEqual(specProblems(blocks), []);
  });

  it("an unknown verb, an unknown sub-verb, a flag the verb does not have", () => {
    const spans = codeSpans(
      new Map([
        [
          "docs/x.md",
          [
            "Run `aviary frobnicate checkout` or `aviary token mint`.",
            "```sh",
            "aviary deploy checkout --version v2 --target http://x:1 --colour | grep x --nope",
            "aviary get checkout -w --interval 2s   # --ignored in a comment",
            "```",
          ].join("\n"),
        ],
      ]),
    );
    assert.deepEqual(cliProblems(spans, buildProgram()), [
      "docs/x.md:3: `aviary deploy` has no option --colour",
      "docs/x.md:1: `aviary frobnicate` is not a verb of buildProgram()",
      "docs/x.md:1: `aviary token mint` is not a sub-verb of aviary token",
    ]);
  });

  it("a link to a missing file or heading", () => {
    const problems = linkProblems(
      new Map([
        [
          "docs/x.md",
          "# Title\n\nSee [here](#title), [there](#nowhere) and [a file](missing.md).\n",
        ],
      ]),
    );
    assert.deepEqual(problems, [
      "docs/x.md:3: link to #nowhere: docs/x.md has no heading #nowhere",
      "docs/x.md:3: link to missing.md: docs/missing.md does not exist",
    ]);
  });

  it("a generated page that differs from the file on disk", () => {
    const generated = generateDocs();
    const path = Object.keys(generated)[0] as string;
    const onDisk = (p: string) => (p === path ? `${generated[p]}edited by hand\n` : generated[p]);
    assert.deepEqual(staleDocs(generated, onDisk), [path]);
    assert.deepEqual(
      staleDocs(generated, () => undefined),
      Object.keys(generated),
    );
  });
});
