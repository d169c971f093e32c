import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSpec, SpecError, type SpecProblem } from "./load.js";

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

  it("accepts an empty document as a spec with no services", () => {
    assert.deepEqual(parseSpec("").services, []);
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
});
