/**
 * Canary analysis end to end: `aviary serve` with the builtin metrics and the default
 * (sequential) judge, real upstreams and steady load. A canary that returns extra 5xx is
 * rolled back by the analysis on its own, with the reason in `aviary history`; a slow one too;
 * a healthy one is promoted. A second service is judged by one weighted score (a scored
 * template): a slow canary costs the latency group's share and pauses for a person.
 */

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Pool } from "undici";
import { AVIARY_BIN as BIN, runCli, spawnServe, startUpstream, type Upstream } from "./fixtures.js";

describe("analysis through aviary serve", () => {
  let stable: Upstream;
  let failing: Upstream;
  let slow: Upstream;
  let healthy: Upstream;
  let server: ChildProcess;
  let dataDir: string;
  let url: string;
  let admin: string;
  let pool: Pool;
  let basketPool: Pool;
  let stopLoad = false;
  let loading: Promise<unknown>;

  // Never spawnSync: this process drives the load the analysis judges, which must not stop.
  const cli = (...args: string[]) => runCli([...args, "--server", admin, "--data-dir", dataDir]);
  const view = async () =>
    JSON.parse((await cli("get", "shop", "-o", "json")).stdout) as {
      traffic: { stable: { version: string } };
      rollout: { phase: string; reason: string; canary: { version: string } } | null;
    };
  const settle = async (version: string) => {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      const v = await view();
      if (
        v.rollout?.canary.version === version &&
        (v.rollout.phase === "Healthy" || v.rollout.phase === "Aborted")
      )
        return v.rollout;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.fail(
      `rollout of ${version} did not finish within 60 s: ${JSON.stringify(await view())}`,
    );
  };

  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run \`npm run build\` first (npm test does)`);
    stable = await startUpstream("v1");
    // A bad version: one request in five fails.
    let n = 0;
    failing = await startUpstream("v2", (_req, res) => {
      res
        .writeHead(++n % 5 === 0 ? 500 : 200, { "content-type": "application/json" })
        .end('{"name":"v2"}');
    });
    slow = await startUpstream("v3", (_req, res) => {
      setTimeout(
        () => res.writeHead(200, { "content-type": "application/json" }).end('{"name":"v3"}'),
        60,
      );
    });
    healthy = await startUpstream("v4");
    const dir = mkdtempSync(join(tmpdir(), "aviary-analysis-"));
    dataDir = join(dir, "data");
    const specFile = join(dir, "aviary.yaml");
    writeFileSync(
      specFile,
      `listen: 127.0.0.1:0
admin: 127.0.0.1:0
controller: { tick: 200ms }
services:
  - name: basket
    match: { pathPrefix: /basket }
    stable: { version: v1, targets: [${stable.url}] }
    stickiness: { header: x-user-id }
    strategy:
      steps:
        - setWeight: 50
        - analysis: { templates: [scored] }
  - name: shop
    match: { pathPrefix: / }
    stable: { version: v1, targets: [${stable.url}] }
    stickiness: { header: x-user-id }
    strategy:
      steps:
        - setWeight: 20
        - analysis: { templates: [step-check] }
        - setWeight: 50
        - analysis: { templates: [step-check] }
      analysis: { templates: [golden-signals], startingStep: 1 }
analysisTemplates:
  - name: step-check
    metrics:
      - name: error-rate
        interval: 1s
        # Long enough that the background latency judge (four intervals at least, after
        # its bake time) decides within the rollout on a busy test machine.
        count: 10
        provider: { builtin: { signal: errorRate } }
        judge: { sequential: { minBakeTime: 3s } }
  - name: golden-signals
    metrics:
      - name: error-rate
        interval: 1s
        provider: { builtin: { signal: errorRate } }
        judge: { sequential: { minBakeTime: 3s } }
      - name: latency-p99
        interval: 1s
        provider: { builtin: { signal: latencyP99 } }
        # Slow from its first request, not cold: no warm-up (the default minute would outlast this fast rollout).
        judge: { sequential: { minBakeTime: 3s, slowThresholdMs: 40, warmup: 0s } }
  - name: scored
    scoring: { pass: 95, marginal: 40, groupWeights: { errors: 60, latency: 40 } }
    metrics:
      - name: error-rate
        groups: [errors]
        interval: 1s
        count: 15
        provider: { builtin: { signal: errorRate } }
        judge: { sequential: { minBakeTime: 3s } }
      - name: latency-p99
        groups: [latency]
        interval: 1s
        count: 15
        provider: { builtin: { signal: latencyP99 } }
        judge: { sequential: { minBakeTime: 3s, slowThresholdMs: 40, warmup: 0s } }
`,
    );
    ({ child: server, url, admin } = await spawnServe(specFile, dataDir));
    pool = new Pool(url, { connections: 8 });
    let id = 0;
    // Each service its own connections, so a slow canary of one does not starve the other.
    basketPool = new Pool(url, { connections: 4 });
    const worker = (on: Pool, path: string) => async () => {
      while (!stopLoad) {
        const res = await on
          .request({ path, method: "GET", headers: { "x-user-id": `u${id++ % 5000}` } })
          .catch(() => undefined);
        await res?.body.dump();
      }
    };
    loading = Promise.all([
      ...Array.from({ length: 8 }, worker(pool, "/")),
      ...Array.from({ length: 4 }, worker(basketPool, "/basket")),
    ]);
  });
  after(async () => {
    stopLoad = true;
    await loading;
    await Promise.all([pool.close(), basketPool.close()]);
    server.kill("SIGTERM");
    await Promise.all([stable.close(), failing.close(), slow.close(), healthy.close()]);
  });

  it("rolls back a canary that returns extra 5xx, saying why", async () => {
    assert.equal(
      (await cli("deploy", "shop", "--version", "v2", "--target", failing.url)).status,
      0,
    );
    const r = await settle("v2");
    assert.equal(r.phase, "Aborted");
    assert.match(r.reason, /analysis failed: error-rate: /);
    const history = (await cli("history", "shop")).stdout;
    assert.match(history, /aborted +0% +analysis +(background )?analysis failed: error-rate/);
    const analysis = (await cli("analysis", "shop")).stdout;
    assert.match(analysis, /analysis +Failed: error-rate: /);
    assert.match(analysis, /error-rate: \d+ measurements/);
    assert.match(analysis, /Failed +canary errors/i);
  });

  it("rolls back a slower canary", async () => {
    assert.equal((await cli("deploy", "shop", "--version", "v3", "--target", slow.url)).status, 0);
    const r = await settle("v3");
    assert.equal(r.phase, "Aborted");
    assert.match(r.reason, /latency-p99/);
  });

  it("scores a template as one verdict: a slow canary loses the latency group and pauses for a person", async () => {
    assert.equal(
      (await cli("deploy", "basket", "--version", "v3", "--target", slow.url)).status,
      0,
    );
    let r: { phase: string; reason: string } | null = null;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      r = (
        JSON.parse((await cli("get", "basket", "-o", "json")).stdout) as {
          rollout: { phase: string; reason: string } | null;
        }
      ).rollout;
      if (r !== null && r.phase !== "Progressing" && r.phase !== "Analyzing") break;
      await new Promise((res) => setTimeout(res, 250));
    }
    assert.equal(
      r?.phase,
      "Paused",
      `${JSON.stringify(r)}\n${(await cli("analysis", "basket")).stdout}`,
    );
    assert.match(
      r?.reason ?? "",
      /analysis inconclusive: score of scored 60 \(pass ≥ 95, fails ≤ 40, marginal\): error-rate Pass 60\/60, latency-p99 High 0\/40/,
    );
    const analysis = (await cli("analysis", "basket")).stdout;
    assert.match(analysis, /score:scored: \d+ measurements/);
    assert.match(analysis, /Inconclusive +score of scored 60/);
    assert.equal((await cli("abort", "basket")).status, 0);
  });

  it("promotes a healthy canary", async () => {
    assert.equal(
      (await cli("deploy", "shop", "--version", "v4", "--target", healthy.url)).status,
      0,
    );
    const r = await settle("v4");
    assert.equal(r.phase, "Healthy", r.reason);
    assert.equal((await view()).traffic.stable.version, "v4");
  });
});
