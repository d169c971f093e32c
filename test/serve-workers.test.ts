/**
 * `aviary serve --workers 2` as a user runs it (the compiled CLI): the workers share the listen
 * port and serve the rollout's split, the fleet listing shows them as routers, the analysis
 * counts both workers' requests, a SIGKILLed worker is restarted while the other serves, and
 * SIGTERM leaves no worker behind. Needs `npm run build` first.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { request } from "undici";
import { startUpstream } from "./fixtures.js";
import { freePort, until } from "./fleet-fixtures.js";
import { ManagedProcess } from "./support/ha-process.js";

const AVIARY_BIN = join(import.meta.dirname, "..", "dist", "cli", "main.js");

const cleanup: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

function needBuild(): void {
  if (!existsSync(AVIARY_BIN))
    throw new Error(`${AVIARY_BIN} is missing: run \`npm run build\` first (npm test does)`);
}

function specYaml(o: { listen: number; admin: number; stable: string; engine?: string }): string {
  return [
    `listen: 127.0.0.1:${o.listen}`,
    `admin: 127.0.0.1:${o.admin}`,
    ...(o.engine === undefined
      ? []
      : [
          `dataplane: { engine: ${o.engine}, haproxy: { runtimeApi: "unix:/nonexistent/admin.sock", mapsDir: /nonexistent }, logs: { listen: "udp://127.0.0.1:0" } }`,
        ]),
    "controller: { tick: 200ms }",
    "analysisTemplates:",
    "  - name: errors",
    "    metrics:",
    "      - name: error-rate",
    "        interval: 2s",
    "        count: 1000",
    "        provider: { builtin: { signal: errorRate } }",
    "services:",
    "  - name: shop",
    "    match: { pathPrefix: /shop }",
    `    stable: { version: v1, targets: [${o.stable}] }`,
    "    strategy:",
    "      steps: [{ setWeight: 30 }, { pause: {} }]",
    "      analysis: { templates: [errors], startingStep: 1 }",
    "",
  ].join("\n");
}

/**
 * One request on a connection of its own (no keep-alive), so node:cluster's round-robin hands
 * consecutive requests to different workers. A request in flight on a worker that is killed
 * is lost with it, and is retried once: the client sees ECONNRESET, or, for a connection the
 * primary was handing to the worker as it died, nothing at all until its own timeout
 * (node:cluster closes its copy of a handed-off connection only when the worker says it took
 * it). `timeoutMs` is short while a worker is being killed, so such a request is retried.
 */
async function fetchVersion(
  port: number,
  path: string,
  timeoutMs = 5_000,
  retry = true,
): Promise<string> {
  try {
    return await new Promise<string>((resolve, reject) => {
      const req = get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
        res.resume();
        res.on("end", () =>
          res.statusCode === 200
            ? resolve(String(res.headers["x-upstream"]))
            : reject(new Error(`status ${res.statusCode}`)),
        );
      });
      req.on("error", reject);
      req.setTimeout(timeoutMs, () =>
        req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })),
      );
    });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (retry && (code === "ECONNRESET" || code === "EPIPE" || code === "TIMEOUT"))
      return fetchVersion(port, path, timeoutMs, false);
    throw err;
  }
}

async function burst(port: number, n: number, concurrency = 8): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const v = await fetchVersion(port, `/shop/${i}`);
        seen.set(v, (seen.get(v) ?? 0) + 1);
      }
    }),
  );
  return seen;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface FleetView {
  routers: Array<{
    id: string;
    lastReportAt: string;
    stale: boolean;
    left: boolean;
    serves: Record<string, { revision: number; weight: number }>;
  }>;
  desired: { services: Record<string, number> };
}

interface Measurement {
  phase: string;
  startedAt: number;
  evidence: { cumulative?: Record<string, Record<string, number>> };
}

describe("aviary serve --workers", () => {
  it("serves the split from two workers, sums their traffic, restarts a killed one, drains on SIGTERM", async () => {
    needBuild();
    const v1 = await startUpstream("v1");
    const v2 = await startUpstream("v2");
    cleanup.push(() => v1.close());
    cleanup.push(() => v2.close());
    const dir = mkdtempSync(join(tmpdir(), "aviary-workers-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const listen = await freePort();
    const adminPort = await freePort();
    const specFile = join(dir, "aviary.yaml");
    writeFileSync(specFile, specYaml({ listen, admin: adminPort, stable: v1.url }));
    const dataDir = join(dir, "data");
    const serve = new ManagedProcess({
      name: "serve",
      command: process.execPath,
      args: [AVIARY_BIN, "serve", "-c", specFile, "--data-dir", dataDir, "--workers", "2"],
      env: { AVIARY_LOG_LEVEL: "info" },
    });
    serve.start();
    cleanup.push(() => serve.kill());

    const ready = await serve.waitFor((l) => l.msg === "aviary serving", "the ready line", 60_000);
    const fields = Object.keys(ready).filter((k) => !["level", "time", "name"].includes(k));
    assert.deepEqual(fields.slice(0, 2), ["listen", "admin"]);
    assert.equal(ready.listen, `127.0.0.1:${listen}`);
    assert.equal(ready.workers, 2);
    assert.equal(ready.engine, "fleet", "the engine in force, not the spec's embedded");
    const pids = ready.workerPids as number[];
    assert.equal(pids.length, 2);
    for (const pid of pids) assert.ok(alive(pid), `worker ${pid} runs`);
    cleanup.push(() => {
      for (const pid of pids) if (alive(pid)) process.kill(pid, "SIGKILL");
    });
    // The run's router token lives in memory only: the tokens file does not name it.
    const tokensFile = join(dataDir, "tokens");
    if (existsSync(tokensFile)) assert.doesNotMatch(readFileSync(tokensFile, "utf8"), /router/);

    const admin = `http://127.0.0.1:${adminPort}`;
    const operator = readFileSync(join(dataDir, "operator-token"), "utf8").trim();
    const api = async <T>(path: string): Promise<T> => {
      const res = await request(`${admin}${path}`, {
        headers: { authorization: `Bearer ${operator}` },
      });
      const body = await res.body.json();
      assert.equal(res.statusCode, 200, JSON.stringify(body));
      return body as T;
    };
    const cli = (...args: string[]) => {
      const r = spawnSync(
        process.execPath,
        [AVIARY_BIN, ...args, "--server", admin, "--data-dir", dataDir],
        { encoding: "utf8" },
      );
      assert.equal(r.status, 0, `aviary ${args.join(" ")}: ${r.stderr}`);
    };
    const fleetServes = (weight: number) =>
      until(
        `both workers serve the desired revision at ${weight} %`,
        async () => {
          const f = await api<FleetView>("/api/v1/fleet");
          const want = f.desired.services.shop;
          const live = f.routers.filter((r) => !r.stale && !r.left);
          return live.length === 2 &&
            live.every((r) => r.serves.shop?.revision === want && r.serves.shop?.weight === weight)
            ? f
            : undefined;
        },
        20_000,
      );

    const first = await fleetServes(0);
    assert.deepEqual(
      first.routers.map((r) => r.id.replace(/^.*-(w\d+)$/, "$1")),
      ["w1", "w2"],
    );
    assert.deepEqual([...(await burst(listen, 20)).keys()], ["v1"]);

    cli("deploy", "shop", "--version", "v2", "--target", v2.url);
    await fleetServes(30);
    // The background analysis runs from the pause on; its first measurement marks its start,
    // so every request below falls in its windows.
    const analysis = () =>
      api<{ runs: Array<{ measurements: Measurement[] }> }>("/api/v1/services/shop/analysis");
    await until(
      "the analysis' first measurement",
      async () => ((await analysis()).runs[0]?.measurements.length ?? 0) > 0 || undefined,
      20_000,
    );
    const sent = 400;
    const seen = await burst(listen, sent);
    const burstEnd = Date.now();
    const share = (seen.get("v2") ?? 0) / sent;
    assert.ok(share > 0.2 && share < 0.4, `canary share ${share} at weight 30`);
    // A measurement that starts after the next whole second covers every request sent.
    const last = await until(
      "a measurement after the requests",
      async () => {
        const ms = (await analysis()).runs[0]?.measurements ?? [];
        const m = ms[ms.length - 1];
        return m !== undefined && m.startedAt >= Math.floor(burstEnd / 1000) * 1000 + 1000
          ? m
          : undefined;
      },
      30_000,
    );
    assert.notEqual(last.phase, "Inconclusive", JSON.stringify(last));
    const c = last.evidence.cumulative;
    assert.ok(c !== undefined, JSON.stringify(last.evidence));
    const counted = (c.canary?.requests ?? 0) + (c.stable?.requests ?? 0);
    // Round-robin gives each worker about half: one worker's figures alone would be ~200.
    assert.equal(counted, sent, JSON.stringify(c));
    // The charts (dashboard, `aviary get --watch`) read the same merged figures: no request
    // passes through the primary, whose own registry is empty.
    const charted = await api<{
      versions: Array<{ version: string; summary: { requests: number } }>;
    }>("/api/v1/services/shop/metrics");
    const chartedTotal = charted.versions.reduce((n, v) => n + v.summary.requests, 0);
    assert.ok(chartedTotal >= sent, `the metrics route counts ${chartedTotal} of ${sent} requests`);

    cli("promote", "shop", "--full");
    await until(
      "the rollout finishes on v2",
      async () => ((await burst(listen, 10)).get("v2") === 10 ? true : undefined),
      20_000,
    );

    // SIGHUP re-reads the spec: a service added there reaches both workers.
    writeFileSync(
      specFile,
      `${specYaml({ listen, admin: adminPort, stable: v1.url })}  - name: cart\n    match: { pathPrefix: /cart }\n    stable: { version: v1, targets: [${v1.url}] }\n`,
    );
    serve.signal("SIGHUP");
    await serve.waitFor((l) => l.msg === "spec reloaded", "the reload");
    await until(
      "both workers serve the added service",
      async () => {
        for (let i = 0; i < 6; i++) if ((await fetchVersion(listen, `/cart/${i}`)) !== "v1") return;
        return true;
      },
      20_000,
    );

    // SIGKILL one worker while requests keep coming.
    const killed = pids[0] as number;
    const other = pids[1] as number;
    const killedAt = Date.now();
    const failures: string[] = [];
    let answered = 0;
    let loading = true;
    const load = (async () => {
      while (loading) {
        try {
          await fetchVersion(listen, "/shop/during-restart", 1_000);
          answered++;
        } catch (err) {
          failures.push(`${Date.now() - killedAt} ms: ${(err as Error).message}`);
        }
      }
    })();
    process.kill(killed, "SIGKILL");
    await serve.waitFor(
      (l) => typeof l.msg === "string" && l.msg.startsWith("worker exited; restarting it"),
      "the restart line",
    );
    const back = await serve.waitFor(
      (l) => l.msg === "worker serving" && l.pid !== killed && l.worker === 1,
      "the restarted worker serving",
      30_000,
    );
    const restarted = back.pid as number;
    pids.push(restarted);
    assert.ok(alive(restarted) && alive(other));
    await until(
      "the restarted worker reports the current state",
      async () => {
        const f = await api<FleetView>("/api/v1/fleet");
        const r = f.routers.find((x) => x.id.endsWith("-w1"));
        return r !== undefined &&
          Date.parse(r.lastReportAt) > killedAt &&
          r.serves.shop?.revision === f.desired.services.shop
          ? true
          : undefined;
      },
      20_000,
    );
    // Some more requests once it is back, so both workers are seen to take them again.
    await new Promise((r) => setTimeout(r, Math.max(1_000, killedAt + 4_000 - Date.now())));
    loading = false;
    await load;
    assert.deepEqual(failures, [], `requests failed (after a retry); ${answered} answered`);
    assert.ok(answered > 10, `${answered} answered`);

    serve.signal("SIGTERM");
    const exit = await serve.exited();
    assert.deepEqual(exit, { code: 0, signal: null }, serve.tail());
    for (const pid of [other, restarted]) assert.ok(!alive(pid), `worker ${pid} is gone`);
  });

  it("refuses a bad --workers and an engine it cannot serve, in one line", async () => {
    needBuild();
    const dir = mkdtempSync(join(tmpdir(), "aviary-workers-bad-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const embedded = join(dir, "embedded.yaml");
    const haproxy = join(dir, "haproxy.yaml");
    const ports = {
      listen: await freePort(),
      admin: await freePort(),
      stable: "http://127.0.0.1:1",
    };
    writeFileSync(embedded, specYaml(ports));
    writeFileSync(haproxy, specYaml({ ...ports, engine: "haproxy" }));
    const cases: Array<[string, string, RegExp]> = [
      [embedded, "0", /^aviary: --workers 0: expected a number of workers from 1/],
      [embedded, "x", /^aviary: --workers x: expected a number of workers from 1/],
      [haproxy, "2", /^aviary: --workers: the spec's dataplane.engine is haproxy;/],
    ];
    for (const [spec, n, want] of cases) {
      const r = spawnSync(
        process.execPath,
        [AVIARY_BIN, "serve", "-c", spec, "--data-dir", join(dir, "data"), "--workers", n],
        { encoding: "utf8" },
      );
      assert.equal(r.status, 2, `--workers ${n}: ${r.stderr}`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0] ?? "", want);
    }
  });

  it("fails its start in one line when the listen address is taken", async () => {
    needBuild();
    const dir = mkdtempSync(join(tmpdir(), "aviary-workers-taken-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    cleanup.push(() => new Promise<void>((r) => taken.close(() => r())));
    const port = (taken.address() as { port: number }).port;
    const spec = join(dir, "aviary.yaml");
    writeFileSync(
      spec,
      specYaml({ listen: port, admin: await freePort(), stable: "http://127.0.0.1:1" }),
    );
    const r = spawnSync(
      process.execPath,
      [AVIARY_BIN, "serve", "-c", spec, "--data-dir", join(dir, "data"), "--workers", "2"],
      { encoding: "utf8", timeout: 60_000, env: { ...process.env, AVIARY_LOG_LEVEL: "silent" } },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr.trim().split("\n").pop(),
      `aviary: cannot listen on 127.0.0.1:${port} for the data plane (listen): another process (another aviary?) already listens there (EADDRINUSE)`,
    );
  });
});
