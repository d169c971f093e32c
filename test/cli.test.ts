/**
 * The `aviary` command end to end: the compiled binary in a child process, as a user runs it.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { startUpstream, type Upstream } from "./fixtures.js";

const BIN = join(import.meta.dirname, "..", "dist", "cli", "main.js");

function aviary(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 30_000 });
}

/** Starts a long-running verb and resolves once `ready` matches its output. */
async function startAviary(
  args: string[],
  ready: RegExp,
): Promise<{ child: ChildProcess; output: () => string; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = ready.exec(output);
      if (m) resolve(m);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) =>
      reject(new Error(`aviary exited (${code}) before it was ready:\n${output}`)),
    );
    setTimeout(() => reject(new Error(`aviary not ready after 20 s:\n${output}`)), 20_000).unref();
  });
  return { child, output: () => output, match };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
}

describe("aviary CLI", () => {
  let dir: string;
  let stable: Upstream;
  let canary: Upstream;
  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run \`npm run build\` first (npm test does)`);
    dir = mkdtempSync(join(tmpdir(), "aviary-cli-"));
    stable = await startUpstream("stable");
    canary = await startUpstream("canary");
  });
  after(async () => {
    await stable.close();
    await canary.close();
  });

  const spec = (weight: number) => `listen: 127.0.0.1:0
admin: 127.0.0.1:0
services:
  - name: shop
    match: { pathPrefix: /shop }
    stable: { version: v1, targets: [${stable.url}] }
    canary: { version: v2, targets: [${canary.url}] }
    weight: ${weight}
    stickiness: { header: x-user-id }
    routes:
      - match: { headers: { user-type: { exact: beta-tester } } }
        to: canary
`;

  it("validate: says a good spec is valid and exits 0", () => {
    const file = join(dir, "good.yaml");
    writeFileSync(file, spec(10));
    const out = aviary(["validate", "-f", file]);
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /good\.yaml: valid \(1 service\)/);
  });

  it("validate: lists every problem with file:line:column and exits 1", () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      "services:\n  - name: shop\n    match: { pathPrefix: nope }\n    stable: { version: v1, targets: [] }\n    extra: 1\n",
    );
    const out = aviary(["validate", "-f", file]);
    assert.equal(out.status, 1);
    assert.match(out.stderr, /3 problems in the spec/);
    assert.match(
      out.stderr,
      new RegExp(
        `${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3:26: services\\[0\\]\\.match\\.pathPrefix: `,
      ),
    );
    assert.match(
      out.stderr,
      /bad\.yaml:4:37: services\[0\]\.stable\.targets: a version needs at least one target/,
    );
    assert.match(out.stderr, /bad\.yaml:5:5: services\[0\]\.extra: unknown field 'extra'/);
  });

  it("validate: a missing file is an error that names it", () => {
    const out = aviary(["validate", "-f", join(dir, "absent.yaml")]);
    assert.equal(out.status, 1);
    assert.match(out.stderr, /cannot read .*absent\.yaml/);
  });

  it("schema: prints a JSON Schema that refuses unknown fields", () => {
    const out = aviary(["schema"]);
    assert.equal(out.status, 0);
    const schema = JSON.parse(out.stdout) as {
      properties: Record<string, unknown>;
      additionalProperties: boolean;
    };
    assert.ok("services" in schema.properties);
    assert.equal(schema.additionalProperties, false);
  });

  it("exits 2 on a usage error, with help", () => {
    const out = aviary(["frobnicate"]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /unknown command 'frobnicate'/);
    assert.equal(aviary(["serve"]).status, 2);
  });

  it("serve: proxies with the split, reloads the spec on SIGHUP, keeps serving on a broken edit, drains on SIGTERM", async () => {
    const file = join(dir, "serve.yaml");
    writeFileSync(file, spec(0));
    const { child, output, match } = await startAviary(
      ["serve", "-c", file],
      /"listen":"127\.0\.0\.1:(\d+)","admin":"127\.0\.0\.1:(\d+)"/,
    );
    try {
      const url = `http://127.0.0.1:${match[1]}`;
      const admin = `http://127.0.0.1:${match[2]}`;
      const who = async (headers: Record<string, string>) => {
        const res = await request(`${url}/shop/`, { headers });
        return ((await res.body.json()) as { name: string }).name;
      };
      assert.equal(await who({ "x-user-id": "alice" }), "stable");
      assert.equal(await who({ "user-type": "beta-tester" }), "canary");

      writeFileSync(file, spec(100));
      child.kill("SIGHUP");
      for (let i = 0; i < 100 && !/spec reloaded/.test(output()); i++)
        await new Promise((r) => setTimeout(r, 20));
      assert.equal(await who({ "x-user-id": "alice" }), "canary");

      writeFileSync(file, "services: [ broken");
      child.kill("SIGHUP");
      for (let i = 0; i < 100 && !/spec reload refused/.test(output()); i++)
        await new Promise((r) => setTimeout(r, 20));
      assert.match(output(), /spec reload refused/);
      assert.equal(
        await who({ "x-user-id": "alice" }),
        "canary",
        "still serving the last good spec",
      );

      const metrics = await request(`${admin}/metrics`);
      const text = await metrics.body.text();
      assert.match(text, /aviary_requests_total\{[^}]*service="shop"[^}]*version="v2"/);
    } finally {
      child.kill("SIGTERM");
      assert.equal(await exited(child), 0);
    }
  });

  it("serve: --listen and --admin override the spec", async () => {
    const file = join(dir, "override.yaml");
    writeFileSync(file, spec(0).replace("listen: 127.0.0.1:0", "listen: 0.0.0.0:1"));
    const { child, match } = await startAviary(
      ["serve", "-c", file, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
      /"listen":"127\.0\.0\.1:(\d+)"/,
    );
    child.kill("SIGTERM");
    assert.ok(Number(match[1]) > 0);
    assert.equal(await exited(child), 0);
  });
});
