/**
 * A rollout end to end: `aviary serve` in a child process with real upstreams and steady load,
 * driven only through the `aviary` CLI (deploy, promote, abort, history).
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Pool } from "undici";
import { spawnServe, startUpstream, type Upstream } from "./fixtures.js";

const BIN = join(import.meta.dirname, "..", "dist", "cli", "main.js");

/** Steady load: 16 workers until stopped; counts what each version served and every failure. */
function startLoad(url: string) {
  const pool = new Pool(url, { connections: 16 });
  const served = new Map<string, number>();
  const failures: string[] = [];
  let stopped = false;
  let n = 0;
  const worker = async () => {
    while (!stopped) {
      const id = n++;
      try {
        const res = await pool.request({
          path: `/shop/${id}`,
          method: "GET",
          headers: { "x-user-id": `u${id % 2000}` },
        });
        const body = (await res.body.json()) as { name: string };
        if (res.statusCode !== 200) failures.push(`status ${res.statusCode}`);
        else served.set(body.name, (served.get(body.name) ?? 0) + 1);
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const running = Promise.all(Array.from({ length: 16 }, worker));
  return {
    served,
    failures,
    snapshot: () => new Map(served),
    async stop() {
      stopped = true;
      await running;
      await pool.close();
    },
  };
}

describe("rollout through aviary serve and the CLI", () => {
  let stable: Upstream;
  let canary: Upstream;
  let bad: Upstream;
  let server: ChildProcess;
  let dataDir: string;
  let url: string;
  let admin: string;

  const cli = (...args: string[]) => {
    const out = spawnSync(
      process.execPath,
      [BIN, ...args, "--server", admin, "--data-dir", dataDir],
      { encoding: "utf8", timeout: 30_000 },
    );
    return { status: out.status, stdout: out.stdout, stderr: out.stderr };
  };
  const phase = () =>
    JSON.parse(cli("get", "shop", "-o", "json").stdout) as {
      traffic: { weight: number; canary: { version: string } | null; stable: { version: string } };
      rollout: { phase: string; stepIndex: number } | null;
    };
  const until = async (what: string, check: () => boolean) => {
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
      if (check()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`timed out waiting for ${what}: ${JSON.stringify(phase())}`);
  };

  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run \`npm run build\` first (npm test does)`);
    stable = await startUpstream("v1");
    canary = await startUpstream("v2");
    bad = await startUpstream("v3");
    const dir = mkdtempSync(join(tmpdir(), "aviary-e2e-"));
    dataDir = join(dir, "data");
    const specFile = join(dir, "aviary.yaml");
    writeFileSync(
      specFile,
      `listen: 127.0.0.1:0
admin: 127.0.0.1:0
controller: { tick: 50ms }
services:
  - name: shop
    match: { pathPrefix: /shop }
    stable: { version: v1, targets: [${stable.url}] }
    stickiness: { header: x-user-id }
    strategy:
      steps:
        - setWeight: 5
        - pause: { duration: 300ms }
        - setWeight: 25
        - pause: {}
        - setWeight: 50
        - pause: { duration: 300ms }
        - setWeight: 100
`,
    );
    ({ child: server, url, admin } = await spawnServe(specFile, dataDir));
  });
  after(async () => {
    server.kill("SIGTERM");
    await Promise.all([stable.close(), canary.close(), bad.close()]);
  });

  it("deploys, walks 5 → 25 %, stops at the manual pause until promote, goes on to 100 % and promotes, with zero failed requests", async () => {
    const load = startLoad(url);
    try {
      const deployed = cli("deploy", "shop", "--version", "v2", "--target", canary.url);
      assert.equal(deployed.status, 0, deployed.stderr);
      assert.match(deployed.stdout, /rollout .* v1 → v2/);
      await until("the manual pause at 25 %", () => {
        const p = phase();
        return p.rollout?.stepIndex === 3 && p.traffic.weight === 25;
      });
      const atPause = load.snapshot();
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(phase().rollout?.stepIndex, 3, "still waiting: nobody promoted");
      assert.ok(
        (load.snapshot().get("v2") ?? 0) > (atPause.get("v2") ?? 0),
        "the canary serves its 25 % meanwhile",
      );

      const shown = cli("get", "shop");
      assert.match(shown.stdout, /▶ {2}4 pause \(until promoted\)/);
      assert.match(shown.stdout, /✓ {2}3 setWeight 25%/);

      assert.equal(cli("promote", "shop").status, 0);
      await until("promotion", () => phase().rollout?.phase === "Healthy");
      const done = phase();
      assert.equal(done.traffic.stable.version, "v2");
      assert.equal(done.traffic.canary, null);
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.failures.slice(0, 3), []);
    assert.ok((load.served.get("v1") ?? 0) > 0 && (load.served.get("v2") ?? 0) > 0);

    const history = cli("history", "shop");
    assert.equal(history.status, 0);
    for (const expected of [
      /rollout\.started .*operator:operator/,
      /weight\.set +5%/,
      /weight\.set +25%/,
      /step\.started .*waiting at a manual pause/,
      /promoted past step 4/,
      /weight\.set +100%/,
      /promoted +0% +controller +promoted v2/,
    ]) {
      assert.match(history.stdout, expected);
    }
  });

  it("aborts on `aviary abort` under load: the canary gets nothing more, and no request fails", async () => {
    assert.equal(cli("deploy", "shop", "--version", "v3", "--target", bad.url).status, 0);
    await until("5 %", () => phase().traffic.weight >= 5);
    const load = startLoad(url);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const aborted = cli("abort", "shop", "--reason", "looks wrong");
      assert.equal(aborted.status, 0, aborted.stderr);
      assert.match(aborted.stdout, /phase +Aborted: aborted by operator:operator: looks wrong/);
      // Requests already on their way to the canary when the abort landed may still arrive.
      await new Promise((r) => setTimeout(r, 100));
      const servedAtAbort = bad.received.length;
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(
        bad.received.length,
        servedAtAbort,
        "no request reached the aborted canary after the abort returned",
      );
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.failures.slice(0, 3), []);
    assert.equal(phase().traffic.stable.version, "v2");
    const again = cli("abort", "shop");
    assert.equal(again.status, 0, "abort is idempotent");
    const promote = cli("promote", "shop");
    assert.equal(promote.status, 1);
    assert.match(promote.stderr, /Aborted; use retry/);
  });

  it("refuses commands without a token, and says when the server cannot be reached", () => {
    const noToken = spawnSync(
      process.execPath,
      [BIN, "abort", "shop", "--server", admin, "--data-dir", "/nonexistent"],
      { encoding: "utf8", env: { ...process.env, AVIARY_TOKEN: "" } },
    );
    assert.equal(noToken.status, 1);
    assert.match(noToken.stderr, /needs an operator token/);
    const down = spawnSync(
      process.execPath,
      [BIN, "get", "--server", "http://127.0.0.1:9", "--token", "x"],
      { encoding: "utf8" },
    );
    assert.equal(down.status, 3);
    assert.match(down.stderr, /cannot reach Aviary at http:\/\/127\.0\.0\.1:9/);
  });
});
