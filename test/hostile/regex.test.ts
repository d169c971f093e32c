/**
 * Item 3 of the hardening issue: a spec's regex runs against values the client chooses, so it
 * must run in linear time. Before, `(a+)+$` validated and one request with a 30-byte header
 * froze the router, the admin API and the controller for seconds, doubling per byte.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import {
  AVIARY_BIN,
  type ServeProcess,
  spawnServe,
  startUpstream,
  type Upstream,
} from "../fixtures.js";

// The router runs in its own `aviary serve` process, so a frozen event loop there cannot
// freeze this test's timers: the old backtracking engine needs 2^60 steps for the header
// below, and the file's timeout then fails the test instead of hanging the suite. It is a
// liveness bound, not a speed assertion: the linear engine answers in well under a millisecond.
describe("regexes on the request path run in linear time", { timeout: 60_000 }, () => {
  let stable: Upstream;
  let canary: Upstream;
  let serve: ServeProcess;
  let dir: string;

  before(async () => {
    stable = await startUpstream("stable");
    canary = await startUpstream("canary");
    dir = mkdtempSync(join(tmpdir(), "aviary-regex-serve-"));
    const specFile = join(dir, "aviary.yaml");
    writeFileSync(
      specFile,
      `listen: 127.0.0.1:0
admin: 127.0.0.1:0
services:
  - name: shop
    match: { pathPrefix: / }
    stable: { version: v1, targets: ["${stable.url}"] }
    canary: { version: v2, targets: ["${canary.url}"] }
    weight: 0
    routes:
      - match: { headers: { x-probe: { regex: "(a+)+$" } } }
        to: canary
      - match: { query: { tag: { regex: "^(x|xx)+y$" } } }
        to: canary
`,
    );
    serve = await spawnServe(specFile, join(dir, "data"));
  });
  after(async () => {
    serve?.child.kill("SIGKILL");
    await stable.close();
    await canary.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function answeredBy(path: string, headers: Record<string, string> = {}): Promise<string> {
    const res = await request(`${serve.url}${path}`, { headers });
    assert.equal(res.statusCode, 200);
    return ((await res.body.json()) as { name: string }).name;
  }

  it("answers a catastrophic-backtracking header at once, and the admin API stays up meanwhile", async () => {
    const hostile = `${"a".repeat(60)}!`;
    const [one, two, health] = await Promise.all([
      answeredBy("/", { "x-probe": hostile }),
      answeredBy("/", { "x-probe": hostile }),
      request(`${serve.admin}/healthz`).then((r) => r.body.text().then(() => r.statusCode)),
    ]);
    assert.equal(one, "stable");
    assert.equal(two, "stable");
    assert.equal(health, 200);
  });

  it("still matches what the rule means", async () => {
    assert.equal(await answeredBy("/", { "x-probe": "aaaa" }), "canary");
    assert.equal(await answeredBy("/", { "x-probe": "bba" }), "canary");
    assert.equal(await answeredBy("/", { "x-probe": "aab" }), "stable");
  });

  it("does the same for a query parameter", async () => {
    assert.equal(await answeredBy(`/?tag=${"x".repeat(80)}z`), "stable");
    assert.equal(await answeredBy("/?tag=xxxy"), "canary");
  });
});

describe("regexes RE2 cannot run in linear time are refused at validation", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "aviary-regex-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("names the place and the reason: backreference, lookahead", () => {
    const file = join(dir, "spec.yaml");
    writeFileSync(
      file,
      `services:
  - name: shop
    match: { pathPrefix: / }
    stable: { version: v1, targets: [http://127.0.0.1:9001] }
    canary: { version: v2, targets: [http://127.0.0.1:9002] }
    routes:
      - match: { headers: { x-user: { regex: "(a)\\\\1" } } }
        to: canary
      - match: { cookies: { plan: { regex: "gold(?=-)" } } }
        to: canary
`,
    );
    const run = spawnSync(process.execPath, [AVIARY_BIN, "validate", "-f", file], {
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(run.status, 1, run.stderr);
    const out = run.stdout + run.stderr;
    assert.match(out, /spec\.yaml:7:\d+: services\[0\]\.routes\[0\]\.match\.headers\.x-user.*\\1/);
    assert.match(out, /spec\.yaml:9:\d+: services\[0\]\.routes\[1\]\.match\.cookies\.plan.*\(\?=/);
    assert.match(out, /RE2 syntax/);
    assert.doesNotMatch(out, /\n\s+at /);
  });
});
