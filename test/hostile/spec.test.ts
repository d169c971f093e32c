/**
 * Items 8 and 11 of the hardening issue, and the empty file of item 1, through the real CLI and
 * the real admin API: every spec a hostile or broken file holds is refused with file:line and
 * never a stack trace (a 400 from the API, never a 500); listen and admin on one port are
 * refused before anything binds; a bind failure is one line; and a `pause: 30d` waits instead
 * of spinning a 1 ms timer with a TimeoutOverflowWarning per turn.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import { startAdmin, type TestAdmin } from "../admin-fixtures.js";
import {
  AVIARY_BIN,
  type ServeProcess,
  spawnServe,
  startUpstream,
  type Upstream,
} from "../fixtures.js";

/** The "billion laughs": nine levels of anchors, each aliasing the one before nine times. */
const ALIAS_BOMB = `${[
  "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
  ...Array.from(
    { length: 8 },
    (_, i) => `a${i + 1}: &a${i + 1} [${Array(9).fill(`*a${i}`).join(", ")}]`,
  ),
].join("\n")}\n`;

/** What a refusal must look like: the file and a line, and no stack frame. */
function assertNamesPlace(stderr: string, file: string, line: number): void {
  assert.ok(stderr.includes(`${file}:${line}:`), `no ${file}:${line}: in\n${stderr}`);
  assert.doesNotMatch(stderr, /^\s+at /m, `a stack trace in\n${stderr}`);
  assert.doesNotMatch(stderr, /unexpected error/);
}

function aviary(args: string[]) {
  return spawnSync(process.execPath, [AVIARY_BIN, ...args], {
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, AVIARY_TOKEN: "" },
  });
}

describe("aviary validate on hostile specs", () => {
  let dir: string;
  before(() => {
    assert.ok(existsSync(AVIARY_BIN), `${AVIARY_BIN} is missing: run \`npm run build\` first`);
    dir = mkdtempSync(join(tmpdir(), "aviary-hostile-spec-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: Array<{ name: string; text: string | Buffer; line: number; message: RegExp }> = [
    { name: "bomb.yaml", text: ALIAS_BOMB, line: 6, message: /alias bomb/ },
    {
      name: "unresolved.yaml",
      text: "listen: 127.0.0.1:8080\nadmin: *nowhere\n",
      line: 2,
      message: /alias \*nowhere refers to no anchor/,
    },
    { name: "empty.yaml", text: "", line: 1, message: /the spec is empty/ },
    { name: "comments.yaml", text: "# being rewritten\n", line: 1, message: /the spec is empty/ },
    {
      name: "same-port.yaml",
      text: "listen: 0.0.0.0:9900\nadmin: 127.0.0.1:9900\n",
      line: 2,
      message: /admin: the admin address 127\.0\.0\.1:9900 takes the same port/,
    },
    {
      name: "two-docs.yaml",
      text: "services: []\n---\nservices: []\n",
      line: 2,
      message: /a second document/,
    },
    {
      name: "binary.yaml",
      text: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0xff, 0xfe]),
      line: 1,
      message: /not UTF-8 text/,
    },
    {
      name: "pause-forever.yaml",
      text: `services:
  - name: shop
    match: { pathPrefix: / }
    stable: { version: v1, targets: [http://127.0.0.1:9001] }
    strategy:
      steps:
        - pause: { duration: 99999d }
`,
      line: 7,
      message: /99999d is longer than 365d/,
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name} with file:line and exit 1, no stack trace`, () => {
      const file = join(dir, c.name);
      writeFileSync(file, c.text);
      const out = aviary(["validate", "-f", file]);
      assert.equal(out.status, 1, out.stderr);
      assertNamesPlace(out.stderr, file, c.line);
      assert.match(out.stderr, c.message);
      assert.equal(out.stdout, "");
    });
  }

  it("refuses a file over 1 MiB without reading it all", () => {
    const file = join(dir, "huge.yaml");
    writeFileSync(file, `# ${"x".repeat(8 * 1_048_576)}\n`);
    const out = aviary(["validate", "-f", file]);
    assert.equal(out.status, 1, out.stderr);
    assertNamesPlace(out.stderr, file, 1);
    assert.match(out.stderr, /larger than 1 MiB/);
  });
});

describe("aviary serve: listen and admin", () => {
  let dir: string;
  let holder: Server;
  let heldPort: number;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "aviary-hostile-serve-"));
    writeFileSync(join(dir, "spec.yaml"), "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\n");
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    heldPort = (holder.address() as { port: number }).port;
  });
  after(() => {
    holder.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses --listen and --admin on one port before binding anything (exit 2)", () => {
    const out = aviary([
      "serve",
      "-c",
      join(dir, "spec.yaml"),
      "--data-dir",
      join(dir, "d1"),
      "--listen",
      "0.0.0.0:9917",
      "--admin",
      "127.0.0.1:9917",
    ]);
    assert.equal(out.status, 2, out.stderr);
    assert.equal(
      out.stderr,
      "aviary: the admin address 127.0.0.1:9917 takes the same port as the data plane's listen address 0.0.0.0:9917; give them different ports\n",
    );
  });

  for (const which of ["listen", "admin"] as const) {
    it(`says in one line that the ${which} address is taken, and exits 1`, () => {
      const out = aviary([
        "serve",
        "-c",
        join(dir, "spec.yaml"),
        "--data-dir",
        join(dir, `d-${which}`),
        `--${which}`,
        `127.0.0.1:${heldPort}`,
      ]);
      assert.equal(out.status, 1, out.stderr);
      const purpose = which === "listen" ? "the data plane (listen)" : "the admin server (admin)";
      assert.match(
        out.stderr,
        new RegExp(
          `^aviary: cannot listen on 127\\.0\\.0\\.1:${heldPort} for ${purpose.replace(/[()]/g, "\\$&")}: .*\\(EADDRINUSE\\)\\n$`,
        ),
      );
    });
  }
});

describe("POST /api/v1/apply with hostile specs", () => {
  let admin: TestAdmin;
  before(async () => {
    admin = await startAdmin();
  });
  after(() => admin.close());

  const cases: Array<[string, string, RegExp]> = [
    ["an alias bomb", ALIAS_BOMB, /alias bomb/],
    ["an unresolved alias", "services: *nowhere\n", /refers to no anchor/],
    ["an alias cycle", "services: &s [*s]\n", /a cycle/],
    ["an empty spec", "", /the spec is empty/],
    ["listen and admin on one port", "listen: 0.0.0.0:1\nadmin: 0.0.0.0:1\n", /same port/],
    ["a list at the top", "- services\n", /expected a mapping/],
  ];
  for (const [what, spec, message] of cases) {
    it(`answers 400 naming file:line for ${what}, never 500`, async () => {
      const res = await admin.call("POST", "/api/v1/apply", {
        token: admin.operatorToken,
        body: { spec, file: "shop.yaml", dryRun: true },
      });
      assert.equal(res.status, 400, res.text);
      assert.match(res.contentType, /^application\/problem\+json/);
      assert.equal(res.json.code, "AVIARY_SPEC_INVALID");
      assert.match(res.json.detail, /shop\.yaml:\d+:\d+: /);
      assert.match(res.json.detail, message);
      assert.ok(res.json.problems.length > 0);
      for (const p of res.json.problems) {
        assert.equal(p.file, "shop.yaml");
        assert.ok(p.line >= 1 && p.column >= 1, JSON.stringify(p));
      }
    });
  }
});

describe("a pause of 30 days under aviary serve", { timeout: 60_000 }, () => {
  let dir: string;
  let stable: Upstream;
  let canary: Upstream;
  let serve: ServeProcess | undefined;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "aviary-hostile-pause-"));
    stable = await startUpstream("stable");
    canary = await startUpstream("canary");
  });
  after(async () => {
    serve?.child.kill("SIGKILL");
    await Promise.all([stable.close(), canary.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("waits without a TimeoutOverflowWarning (the timer no longer overflows to 1 ms)", async () => {
    const file = join(dir, "aviary.yaml");
    writeFileSync(
      file,
      `listen: 127.0.0.1:0
admin: 127.0.0.1:0
services:
  - name: shop
    match: { pathPrefix: / }
    stable: { version: v1, targets: ["${stable.url}"] }
    canary: { version: v2, targets: ["${canary.url}"] }
    strategy:
      steps:
        - setWeight: 10
        - pause: { duration: 30d }
`,
    );
    const dataDir = join(dir, "data");
    serve = await spawnServe(file, dataDir, { AVIARY_TOKEN: "" });
    const token = readFileSync(join(dataDir, "operator-token"), "utf8").trim();
    let phase = "";
    for (let i = 0; i < 100 && phase !== "Paused"; i++) {
      const res = await request(`${serve.admin}/api/v1/services/shop`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const view = (await res.body.json()) as { rollout?: { phase?: string } | null };
      phase = view.rollout?.phase ?? "";
      if (phase !== "Paused") await sleep(50);
    }
    assert.equal(phase, "Paused");
    // Before, the pause's timer overflowed to 1 ms and re-armed on every wake: thousands of
    // warnings a second. Two seconds of real time show it.
    await sleep(2_000);
    const warnings = serve.log.entries.filter((e) =>
      JSON.stringify(e).includes("TimeoutOverflowWarning"),
    );
    assert.deepEqual(warnings, []);
    assert.equal(serve.child.exitCode, null, "aviary serve is still running");
  });
});
