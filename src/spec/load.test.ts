import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadSpecFile, parseSpec, SpecError, type SpecProblem } from "./load.js";
import { MAX_ALIAS_NODES, MAX_SPEC_CHARS } from "./yaml-source.js";

function problems(text: string): SpecProblem[] {
  try {
    parseSpec(text, "spec.yaml");
  } catch (err) {
    assert.ok(err instanceof SpecError, String(err));
    return err.problems;
  }
  assert.fail("expected the spec to be refused");
}

const minimal = `services:
  - name: checkout
    match: { pathPrefix: /checkout }
    stable: { version: v1, targets: [http://127.0.0.1:9001] }
`;

describe("parseSpec", () => {
  it("applies every default in one place", () => {
    const spec = parseSpec(minimal);
    assert.equal(spec.listen, "0.0.0.0:8080");
    assert.equal(spec.admin, "127.0.0.1:9900");
    assert.equal(spec.proxy.maxHeaderSize, 16_384);
    const svc = spec.services[0]!;
    assert.equal(svc.weight, 0);
    assert.deepEqual(svc.routes, []);
    assert.deepEqual(svc.timeouts, { connect: "5s", response: "30s", idle: "60s" });
    assert.equal(svc.outlierDetection.consecutiveFailures, 5);
  });

  it("refuses an empty document (a file caught mid-rewrite), but takes an explicit {}", () => {
    for (const text of ["", "   \n\n", "# only a comment\n", "---\n", "~\n"]) {
      const [p] = problems(text);
      assert.deepEqual([p!.file, p!.line, p!.column], ["spec.yaml", 1, 1], JSON.stringify(text));
      assert.match(p!.message, /^the spec is empty/);
    }
    assert.deepEqual(parseSpec("{}").services, []);
  });

  it("lists every problem at once, each with line, column and field path, in source order", () => {
    const found = problems(`listen: nowhere
services:
  - name: Checkout
    match: { pathPrefix: /checkout }
    stable: { version: v1, targets: [http://127.0.0.1:9001/path] }
    weight: 150
    stickyness: { header: x-user-id }
`);
    assert.deepEqual(
      found.map((p) => [p.line, p.column, p.path]),
      [
        [1, 9, "listen"],
        [3, 11, "services[0].name"],
        [5, 38, "services[0].stable.targets[0]"],
        [6, 13, "services[0].weight"],
        [6, 13, "services[0].weight"],
        [7, 5, "services[0].stickyness"],
      ],
    );
    assert.match(
      found[3]!.message + found[4]!.message,
      /<=100.*needs a canary|needs a canary.*<=100/,
    );
    assert.match(found[5]!.message, /unknown field 'stickyness'/);
    assert.match(found[2]!.message, /origin only/);
    assert.ok(found.every((p) => p.file === "spec.yaml"));
  });

  it("points a missing field at the object that lacks it", () => {
    const [p] = problems(`services:
  - name: checkout
    match: { pathPrefix: /checkout }
`);
    assert.deepEqual(
      [p!.line, p!.column, p!.path, p!.message],
      [2, 5, "services[0].stable", "required field is missing"],
    );
  });

  it("tells a value of the wrong type from a missing one, inside a one-key union too", () => {
    const found = problems(`${minimal}    strategy:
      steps:
        - setWeight: ten
        - pause: { duration: 5 }
`);
    assert.deepEqual(
      found.map((p) => [p.line, p.path, p.message]),
      [
        [
          7,
          "services[0].strategy.steps[0]",
          "setWeight: Invalid input: expected number, received string",
        ],
        [
          8,
          "services[0].strategy.steps[1]",
          "pause.duration: expected a duration with a unit, such as 500ms, 10s, 2m or 1h30m",
        ],
      ],
    );
  });

  it("reports YAML syntax errors with their position", () => {
    const [p] = problems("services:\n  - name: [unclosed\n");
    assert.equal(p!.path, "");
    assert.match(p!.message, /^YAML: /);
    assert.ok(p!.line >= 2);
  });

  it("refuses duplicate keys rather than silently keeping one", () => {
    const [p] = problems("listen: 0.0.0.0:1\nlisten: 0.0.0.0:2\n");
    assert.match(p!.message, /YAML: .*[Mm]ap keys must be unique/);
  });

  it("names the allowed keys of a string match", () => {
    const found = problems(`${minimal}    routes:
      - match: { headers: { user-type: { exakt: beta } } }
        to: canary
`);
    assert.equal(found[0]!.path, "services[0].routes[0].match.headers.user-type");
    assert.match(found[0]!.message, /'exakt'/);
  });

  it("checks rules across fields: weight needs a canary, versions differ, names and matches are unique", () => {
    const weightWithoutCanary = problems(`${minimal}    weight: 10\n`);
    assert.equal(weightWithoutCanary[0]!.path, "services[0].weight");
    assert.match(weightWithoutCanary[0]!.message, /needs a canary/);

    const sameVersion = problems(
      `${minimal}    canary: { version: v1, targets: [http://127.0.0.1:9002] }\n`,
    );
    assert.equal(sameVersion[0]!.path, "services[0].canary.version");

    const dup = problems(`${minimal}${minimal.replace("services:\n", "")}`);
    assert.deepEqual(
      dup.map((p) => p.path),
      ["services[1].name", "services[1].match"],
    );
    assert.equal(dup[0]!.line, 5);
  });

  it("takes every weight of two decimals, however binary floating point rounds it × 100", () => {
    const canary = `${minimal}    canary: { version: v2, targets: [http://127.0.0.1:9002] }\n`;
    for (const w of [0.29, 0.57, 1.13, 4.35, 99.99])
      assert.equal(parseSpec(`${canary}    weight: ${w}\n`).services[0]!.weight, w);
    assert.match(problems(`${canary}    weight: 0.125\n`)[0]!.message, /at most two decimals/);
  });

  it("refuses stickiness with zero or two sources, and bad regexes, durations and header names", () => {
    const found = problems(`${minimal}    stickiness: { header: x-user-id, cookie: sid }
    routes:
      - match: { headers: { "bad header": { regex: "([" } } }
        to: canary
    timeouts: { connect: soon }
`);
    const paths = found.map((p) => p.path);
    assert.ok(paths.includes("services[0].stickiness"), paths.join());
    assert.ok(
      paths.some((p) => p.startsWith("services[0].routes[0].match.headers")),
      paths.join(),
    );
    assert.ok(paths.includes("services[0].timeouts.connect"), paths.join());
  });

  it("lowercases header names in rules, since HTTP header names are case-insensitive", () => {
    const spec = parseSpec(`${minimal}    stickiness: { header: X-User-Id }
    routes:
      - match: { headers: { User-Type: { exact: beta-tester } } }
        to: canary
`);
    assert.equal(spec.services[0]!.stickiness!.header, "x-user-id");
    assert.deepEqual(Object.keys(spec.services[0]!.routes[0]!.match.headers!), ["user-type"]);
  });

  it("checks analysis templates: unknown references, missing args, bad CEL, judges that do not fit", () => {
    const found = problems(`services:
  - name: checkout
    match: { pathPrefix: /checkout }
    stable: { version: v1, targets: [http://127.0.0.1:9001] }
    strategy:
      steps:
        - analysis: { templates: [golden, nope] }
analysisTemplates:
  - name: golden
    args: [{ name: team }]
    metrics:
      - name: errors
        count: 0
        provider: { prometheus: { address: http://127.0.0.1:9090, query: "up" } }
        judge: { threshold: { successCondition: "result <" } }
      - name: custom
        provider: { web: { url: http://127.0.0.1:9000/x, jsonPath: $.v } }
`);
    const text = found.map((p) => `${p.path}: ${p.message}`).join("\n");
    assert.match(
      text,
      /analysisTemplates\[0\]\.metrics\[0\]\.judge\.threshold\.successCondition: invalid CEL: /,
    );
    assert.match(
      text,
      /analysisTemplates\[0\]\.metrics\[1\]\.judge: a metric from prometheus or web needs a judge/,
    );
    assert.match(
      text,
      /services\[0\]\.strategy\.steps\[0\]\.analysis\.templates\[1\]: unknown analysis template 'nope' \(defined: golden\)/,
    );
    assert.match(
      text,
      /services\[0\]\.strategy\.steps\[0\]\.analysis\.args: template golden needs a value for arg 'team'/,
    );
    assert.match(
      text,
      /metric errors of template golden has count 0 \(no end\) and a judge that cannot pass early/,
    );
  });

  it("takes the flagEvent provider in a template and refuses it on a service's analysis", () => {
    const template = `analysisTemplates:
  - name: conversions
    metrics:
      - name: orders
        provider: { flagEvent: { event: checkout-completed } }
        judge: { sequential: { direction: decrease } }
`;
    assert.equal(parseSpec(template).analysisTemplates[0]?.metrics.length, 1);
    const text = problems(`services:
  - name: shop
    match: { pathPrefix: /shop }
    stable: { version: v1, targets: [http://127.0.0.1:9001] }
    strategy:
      steps:
        - analysis: { templates: [conversions] }
${template}`)
      .map((p) => `${p.path}: ${p.message}`)
      .join("\n");
    assert.match(
      text,
      /services\[0\]\.strategy\.steps\[0\]\.analysis\.templates\[0\]: metric orders of template conversions .*flagEvent provider, which measures a flag's variants, not service shop/,
    );
    const reserved = problems(`analysisTemplates:
  - name: t
    metrics:
      - name: e
        provider: { flagEvent: { event: error } }
`)
      .map((p) => `${p.path}: ${p.message}`)
      .join("\n");
    assert.match(reserved, /flagEvent\.event: error and latency are the builtin provider's/);
  });

  it("takes counts mode for the sequential judge and refuses what does not fit it", () => {
    const base = `services:
  - name: shop
    match: { pathPrefix: /shop }
    stable: { version: v1, targets: [http://127.0.0.1:9001] }
analysisTemplates:
  - name: t
    metrics:
`;
    const ok = parseSpec(`${base}      - name: errors
        provider: { prometheus: { address: http://127.0.0.1:9090, counts: { events: "e", requests: "r" } } }
      - name: orders
        provider: { web: { url: "http://127.0.0.1:9000/c?from={{from}}", stableUrl: "http://127.0.0.1:9000/s", counts: { events: $.orders, requests: $.sessions } } }
        judge: { sequential: { direction: decrease, margin: 0.05 } }
      - name: seeds
        provider: { builtin: { signal: errorRate } }
        judge: { sequential: { maxIncrease: 0.02 } }
`);
    assert.equal(ok.analysisTemplates[0]?.metrics.length, 3);
    const text = problems(`${base}      - name: both
        provider: { prometheus: { address: http://127.0.0.1:9090, query: up, counts: { events: "e", requests: "r" } } }
      - name: stable-query
        provider: { prometheus: { address: http://127.0.0.1:9090, stableQuery: up, counts: { events: "e", requests: "r" } } }
      - name: web-no-stable
        provider: { web: { url: http://127.0.0.1:9000/c, counts: { events: $.a, requests: $.b } } }
      - name: values
        provider: { prometheus: { address: http://127.0.0.1:9090, query: up } }
        judge: { sequential: {} }
      - name: ratio-on-errors
        provider: { builtin: { signal: errorRate } }
        judge: { sequential: { maxRatio: 1.5 } }
      - name: points-on-latency
        provider: { builtin: { signal: latencyP99 } }
        judge: { sequential: { maxIncrease: 0.02 } }
`)
      .map((p) => `${p.path}: ${p.message}`)
      .join("\n");
    for (const want of [
      /metrics\[0\]\.provider\.prometheus\.query: give exactly one of query .* and counts/,
      /metrics\[1\]\.provider\.prometheus\.counts: counts mode runs its two queries for both versions/,
      /metrics\[2\]\.provider\.web\.stableUrl: counts mode compares the versions/,
      /metrics\[3\]\.judge\.sequential: the sequential judge needs per-version counts/,
      /metrics\[4\]\.judge\.sequential\.maxRatio: maxRatio compares latency quantiles/,
      /metrics\[5\]\.judge\.sequential\.maxIncrease: maxIncrease is in points of a rate/,
    ])
      assert.match(text, want);
  });
});

describe("parseSpec: an inline latency analysis and its warm-up", () => {
  const spec = (judge: string) => `services:
  - name: shop
    match: { pathPrefix: /shop }
    stable: { version: v1, targets: [http://127.0.0.1:9001] }
    strategy:
      steps:
        - analysis: { templates: [quick] }
analysisTemplates:
  - name: quick
    metrics:
      - name: p99
        interval: 10s
        count: 6
        provider: { builtin: { signal: latencyP99 } }
${judge}`;

  it("refuses one that would end within the warm-up, having counted nothing", () => {
    const text = problems(spec(""))
      .map((p) => p.message)
      .join("\n");
    assert.match(
      text,
      /metric p99 of template quick ends after 6 measurements, within its 1m warm-up/,
    );
  });

  it("takes it with a shorter warm-up", () => {
    assert.equal(
      parseSpec(spec("        judge: { sequential: { warmup: 30s } }")).analysisTemplates.length,
      1,
    );
  });
});

/** The one problem of a spec, as `line:column: message`. */
function only(text: string): string {
  const found = problems(text);
  assert.equal(found.length, 1, found.map((p) => p.message).join("\n"));
  const p = found[0]!;
  assert.equal(p.file, "spec.yaml");
  return `${p.line}:${p.column}: ${p.message}`;
}

/** The "billion laughs": each anchor aliases the one before nine times. */
function aliasBomb(levels = 9): string {
  const lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
  for (let i = 1; i < levels; i++)
    lines.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(", ")}]`);
  return `${lines.join("\n")}\n`;
}

describe("parseSpec on hostile YAML", () => {
  it("refuses an alias bomb at the alias where the expansion passes the limit", () => {
    assert.equal(
      only(aliasBomb()),
      `6:10: YAML: aliases expand to more than ${MAX_ALIAS_NODES} nodes here (an alias bomb?)`,
    );
  });

  it("takes an anchor shared by more aliases than yaml's own guard allows (100)", () => {
    const services = Array.from(
      { length: 150 },
      (_, i) =>
        `  - { name: s${i}, match: { pathPrefix: /s${i} }, stable: ${i === 0 ? "&v1 { version: v1, targets: [http://127.0.0.1:9001] }" : "*v1"} }`,
    );
    const spec = parseSpec(`services:\n${services.join("\n")}\n`);
    assert.equal(spec.services.length, 150);
    assert.equal(spec.services[149]!.stable.version, "v1");
  });

  it("refuses an alias to no anchor, and an alias inside its own anchor, naming the alias", () => {
    assert.equal(
      only("listen: *nowhere\n"),
      "1:9: YAML: alias *nowhere refers to no anchor (&nowhere) before it",
    );
    assert.equal(
      only("services: &s [*s]\n"),
      "1:15: YAML: alias *s is inside the node &s names (a cycle)",
    );
  });

  it("refuses a second document, naming the line it starts on", () => {
    assert.match(
      only("services: []\n---\nlisten: 0.0.0.0:1\n"),
      /^2:1: YAML: a second document starts here/,
    );
  });

  it("refuses a top level that is not a mapping", () => {
    assert.equal(
      only("- a\n- b\n"),
      "1:1: expected a mapping at the top (services:, listen:, ...), found a list",
    );
    assert.match(only("\n\nhello\n"), /^3:1: expected a mapping at the top .*found a single value/);
  });

  it("refuses binary garbage and keys that are not plain values", () => {
    assert.equal(
      only("services: []\nx\u0000\u0001"),
      "2:2: the spec is not text: control character U+0000",
    );
    assert.match(only("? [a, b]\n: 1\n"), /^1:3: YAML: a key must be a plain value/);
    assert.match(only("? !!binary AAAA\n: 1\n"), /^1:\d+: YAML: a key must be a plain value/);
  });

  it("refuses nesting too deep to parse once, where it starts", () => {
    assert.match(
      only(`a: ${"[".repeat(5000)}${"]".repeat(5000)}\n`),
      /^1:\d+: YAML: nested too deeply to read$/,
    );
  });

  it("refuses a spec larger than 1 MiB at once", () => {
    assert.match(only(`# ${"x".repeat(MAX_SPEC_CHARS)}\n`), /^1:1: the spec is larger than 1 MiB/);
  });

  it("reads a spec with a byte order mark", () => {
    assert.equal(parseSpec(`\uFEFF${minimal}`).services.length, 1);
  });
});

describe("duration bounds", () => {
  const paused = (d: string) =>
    `${minimal}    canary: { version: v2, targets: [http://127.0.0.1:9002] }\n    strategy: { steps: [{ setWeight: 10 }, { pause: { duration: ${d} } }] }\n`;

  it("takes a pause of days, weeks and up to a year", () => {
    for (const d of ["30d", "90d", "365d", "24d20h31m24s"]) parseSpec(paused(d));
  });

  it("refuses a pause over a year, and absurd numbers, naming the bound", () => {
    const [p] = problems(paused("366d"));
    assert.deepEqual(
      [p!.path, p!.message],
      [
        "services[0].strategy.steps[1].pause.duration",
        "366d is longer than 365d, the most allowed here",
      ],
    );
    assert.match(problems(paused(`${"9".repeat(400)}d`))[0]!.message, /longer than 365d/);
  });

  it("bounds every duration: timeouts of calls in minutes, periods from below too", () => {
    const found = problems(`${minimal}    timeouts: { connect: 1h }
    healthCheck: { interval: 0ms }
metrics: { window: 500ms }
controller: { tick: 0s }
proxy: { requestBodyTimeout: 10m }
`);
    assert.deepEqual(
      found.map((p) => `${p.path}: ${p.message}`),
      [
        "services[0].timeouts.connect: 1h is longer than 5m, the most allowed here",
        "services[0].healthCheck.interval: 0ms is shorter than 10ms, the least allowed here",
        "metrics.window: 500ms is shorter than 1s, the least allowed here",
        "controller.tick: 0s is shorter than 10ms, the least allowed here",
        "proxy.requestBodyTimeout: 10m is longer than 5m, the most allowed here",
      ],
    );
  });
});

describe("listen and admin", () => {
  it("refuses the same port on overlapping hosts, at admin (or at listen when admin is left out)", () => {
    assert.match(
      only("listen: 0.0.0.0:9000\nadmin: 127.0.0.1:9000\n"),
      /^2:8: the admin address 127\.0\.0\.1:9000 takes the same port as the data plane's listen address 0\.0\.0\.0:9000/,
    );
    assert.equal(problems("listen: 127.0.0.1:9900\n")[0]!.path, "listen");
    assert.equal(problems("listen: 0.0.0.0:1\nadmin: 0.0.0.0:1\n")[0]!.path, "admin");
    assert.match(only("listen: 0.0.0.0:9900\nadmin: 127.0.0.1:9900\n"), /^2:8: /);
  });

  it("takes port 0 twice, and the same port on different addresses", () => {
    parseSpec("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\n");
    parseSpec("listen: 10.0.0.1:9900\nadmin: 127.0.0.1:9900\n");
  });

  it("refuses an OFREP address on the port of listen or admin, at ofrep.listen", () => {
    assert.match(
      only("listen: 0.0.0.0:9000\nofrep:\n  listen: 127.0.0.1:9000\n"),
      /^3:11: the OFREP address 127\.0\.0\.1:9000 takes the same port as the data plane's listen address 0\.0\.0\.0:9000/,
    );
    assert.match(
      only("ofrep:\n  listen: localhost:9900\n"),
      /^2:11: the OFREP address localhost:9900 takes the same port as the admin address 127\.0\.0\.1:9900/,
    );
    assert.match(only("ofrep:\n  listen: nowhere\n"), /^2:11: /);
    assert.equal(parseSpec("ofrep:\n  listen: 0.0.0.0:8016\n").ofrep?.listen, "0.0.0.0:8016");
    assert.equal(parseSpec("services: []\n").ofrep, undefined);
  });
});

describe("loadSpecFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "aviary-load-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  async function refusal(name: string, content: string | Buffer): Promise<SpecProblem[]> {
    const file = join(dir, name);
    writeFileSync(file, content);
    try {
      await loadSpecFile(file);
    } catch (err) {
      assert.ok(err instanceof SpecError, String(err));
      assert.ok(err.problems.every((p) => p.file === file));
      return err.problems;
    }
    return assert.fail("expected the file to be refused");
  }

  it("refuses an empty file, a file over 1 MiB and bytes that are not UTF-8, naming the file", async () => {
    assert.match((await refusal("empty.yaml", ""))[0]!.message, /^the spec is empty/);
    const big = await refusal("big.yaml", `# ${"x".repeat(2 * MAX_SPEC_CHARS)}\n`);
    assert.match(big[0]!.message, /larger than 1 MiB/);
    const binary = await refusal(
      "bin.yaml",
      Buffer.from([0x61, 0x3a, 0x0a, 0x62, 0xff, 0xfe, 0x0a]),
    );
    assert.deepEqual([binary[0]!.line, binary[0]!.message], [2, "the spec is not UTF-8 text"]);
  });
});
