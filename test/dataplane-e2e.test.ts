/**
 * Aviary beside a real engine, end to end: `aviary serve` drives a real HAProxy (and a real
 * nginx) that carries the users' traffic, judges canaries from the engine's access log, and
 * is not in the request path:
 *
 * - a canary whose 5xx only the engine's access log shows is rolled back by the analysis;
 * - the counts Aviary took from the log equal HAProxy's own (`show stat`);
 * - Aviary SIGKILLed mid-rollout: the engine keeps serving the canary's share with no failed
 *   request, and a restarted Aviary finishes the rollout;
 * - the engine down during an abort: the abort is recorded at once and says it is not applied
 *   yet; the engine back from its original configuration is re-applied within ticks.
 */

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Agent, request } from "undici";
import { stringify } from "yaml";
import { RuntimeApi } from "../src/providers/traffic/haproxy/runtime-api.js";
import type { Spec, SpecInput } from "../src/spec/schema.js";
import { freeUdpPort } from "../src/util/ports.js";
import { startHaproxy } from "./engines/haproxy.js";
import { startAviaryNginx } from "./engines/nginx.js";
import { AVIARY_BIN, runCli, spawnServe, startUpstream, type Upstream } from "./fixtures.js";

/** Binds a UDP port on loopback and keeps it until closed. */
async function holdUdpPort(port: number): Promise<Socket> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, "127.0.0.1", resolve);
  });
  return socket;
}

/** An engine under test, as the story needs it. */
interface Engine {
  name: "haproxy" | "nginx";
  url: string;
  /** The engine's spec section (rendered with the services below). */
  dataplane: Spec["dataplane"];
  listen: string;
  stop(): Promise<void>;
  /** Starts it again from its original configuration. */
  start(): Promise<void>;
  close(): Promise<void>;
  /** Requests the engine itself counted per role, when it can say (HAProxy's `show stat`). */
  counted?(): Promise<{ stable: number; canary: number }>;
}

const services = (stableUrl: string): SpecInput["services"] => [
  {
    name: "shop",
    match: { pathPrefix: "/" },
    stable: { version: "v1", targets: [stableUrl] },
    stickiness: { header: "x-user-id" },
    strategy: {
      steps: [
        { setWeight: 20 },
        { analysis: { templates: ["step-check"] } },
        { setWeight: 50 },
        { pause: { duration: "2s" } },
      ],
    },
  },
];

/** The services as the engine is rendered for them: analyses are Aviary's business alone. */
const forEngine = (svcs: SpecInput["services"]): SpecInput["services"] =>
  (svcs ?? []).map((s) => ({
    ...s,
    ...(s.strategy
      ? {
          strategy: {
            ...s.strategy,
            steps: (s.strategy.steps ?? []).filter((step) => !("analysis" in step)),
          },
        }
      : {}),
  }));

async function haproxyEngine(svcs: SpecInput["services"], logs: string): Promise<Engine> {
  const h = await startHaproxy({ services: svcs, logs, targetSlots: 2 });
  const api = new RuntimeApi(h.runtimeApi, 2_000);
  return {
    name: "haproxy",
    url: h.url,
    dataplane: h.spec.dataplane,
    listen: h.spec.listen,
    stop: () => h.stop(),
    start: () => h.start(),
    close: () => h.close(),
    async counted() {
      const csv = await api.session("show stat", (s) => s.one("show stat -1 2 -1"));
      const lines = csv.split("\n");
      const head = (lines[0] ?? "").replace(/^# /, "").split(",");
      const stot = head.indexOf("stot");
      const byName = new Map(
        lines
          .slice(1)
          .map((l) => l.split(","))
          .map((c) => [c[0], Number(c[stot])]),
      );
      return {
        stable: byName.get("aviary-shop-stable") ?? Number.NaN,
        canary: byName.get("aviary-shop-canary") ?? Number.NaN,
      };
    },
  };
}

async function nginxEngine(svcs: SpecInput["services"], logs: string): Promise<Engine> {
  const logPort = Number(logs.split(":").at(-1));
  const n = await startAviaryNginx(svcs, { logPort });
  return {
    name: "nginx",
    url: n.url,
    dataplane: n.spec.dataplane,
    listen: n.spec.listen,
    stop: () => n.nginx.stop(),
    start: () => n.nginx.start(n.ready),
    close: () => n.close(),
  };
}

for (const startEngine of [haproxyEngine, nginxEngine]) {
  const name = startEngine === haproxyEngine ? "haproxy" : "nginx";
  describe(`aviary serve driving a real ${name}`, () => {
    let stable: Upstream;
    let failing: Upstream;
    let healthy: Upstream;
    let engine: Engine;
    let serve: ChildProcess | undefined;
    let admin = "";
    let specFile = "";
    let dataDir = "";
    let logPort = 0;
    let stopLoad = false;
    let loading: Promise<unknown> | undefined;
    /** Requests the load saw fail (no answer, or the engine's own 502/503/504), while counted. */
    let failed = 0;
    let counting = true;
    let paused = false;
    const seen = new Map<string, number>();
    const agent = new Agent({ connections: 6 });

    // Never spawnSync: this process drives the users' load, which must not stop while it waits.
    const cli = (...args: string[]) => runCli([...args, "--server", admin, "--data-dir", dataDir]);
    /** The service as `aviary get -o json` shows it, read from the API: polling it costs milliseconds. */
    const view = async () => {
      const token = readFileSync(join(dataDir, "operator-token"), "utf8").trim();
      const res = await request(`${admin}/api/v1/services/shop`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const text = await res.body.text();
      assert.equal(res.statusCode, 200, text);
      return JSON.parse(text) as {
        traffic: { stable: { version: string }; weight: number };
        dataplane: { engine: string; applied: boolean; why?: string } | null;
        rollout: { phase: string; reason: string; canary: { version: string } } | null;
      };
    };
    const until = async <T>(
      what: string,
      get: () => Promise<T | undefined>,
      ms = 60_000,
    ): Promise<T> => {
      for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
        const v = await get();
        if (v !== undefined) return v;
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.fail(`${what} not within ${ms / 1000} s: ${JSON.stringify(await view())}`);
    };
    const finished = (version: string) =>
      until(`the rollout of ${version} to finish`, async () => {
        const r = (await view()).rollout;
        return r?.canary.version === version && (r.phase === "Healthy" || r.phase === "Aborted")
          ? r
          : undefined;
      });
    const startServe = async () => {
      ({ child: serve, admin } = await spawnServe(specFile, dataDir));
    };
    /** Who answered `n` requests from distinct users, right now. */
    const answers = async (n: number) => {
      const got = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const res = await request(`${engine.url}/`, {
          headers: { "x-user-id": `probe-${i}` },
          dispatcher: agent,
        });
        await res.body.dump();
        const who = String(res.headers["x-upstream"] ?? res.statusCode);
        got.set(who, (got.get(who) ?? 0) + 1);
      }
      return got;
    };

    before(async () => {
      assert.ok(existsSync(AVIARY_BIN), `${AVIARY_BIN} is missing: run \`npm run build\` first`);
      stable = await startUpstream("v1");
      let n = 0;
      failing = await startUpstream("v2", (_req, res) => {
        res.writeHead(++n % 2 === 0 ? 500 : 200, { "x-upstream": "v2" }).end("v2");
      });
      healthy = await startUpstream("v3");
      logPort = await freeUdpPort();
      const logs = `udp://127.0.0.1:${logPort}`;
      engine = await startEngine(forEngine(services(stable.url)), logs);
      const dir = mkdtempSync(join(tmpdir(), `aviary-${name}-e2e-`));
      dataDir = join(dir, "data");
      specFile = join(dir, "aviary.yaml");
      writeFileSync(
        specFile,
        stringify({
          listen: engine.listen,
          admin: "127.0.0.1:0",
          controller: { tick: "200ms" },
          dataplane: engine.dataplane,
          services: services(stable.url),
          analysisTemplates: [
            {
              name: "step-check",
              metrics: [
                {
                  name: "error-rate",
                  interval: "1s",
                  count: 8,
                  provider: { builtin: { signal: "errorRate" } },
                  judge: { sequential: { minBakeTime: "3s" } },
                },
              ],
            },
          ],
        }),
      );
      await startServe();
      let id = 0;
      const worker = async () => {
        while (!stopLoad) {
          if (paused) {
            await new Promise((r) => setTimeout(r, 20));
            continue;
          }
          const user = `u${id++ % 2000}`;
          try {
            const res = await request(`${engine.url}/`, {
              headers: { "x-user-id": user },
              dispatcher: agent,
            });
            await res.body.dump();
            const who = String(res.headers["x-upstream"] ?? res.statusCode);
            if (counting) {
              seen.set(who, (seen.get(who) ?? 0) + 1);
              if (res.statusCode >= 502 && res.statusCode <= 504) failed++;
            }
          } catch {
            if (counting) failed++;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      };
      loading = Promise.all(Array.from({ length: 4 }, worker));
    });

    after(async () => {
      stopLoad = true;
      await loading;
      serve?.kill("SIGKILL");
      await engine?.close();
      await agent.close();
      await Promise.all([stable?.close(), failing?.close(), healthy?.close()]);
    });

    it("rolls back a canary whose errors only the engine's access log shows", async () => {
      assert.equal(
        (await cli("deploy", "shop", "--version", "v2", "--target", failing.url)).status,
        0,
      );
      const r = await finished("v2");
      assert.equal(r.phase, "Aborted");
      assert.match(r.reason, /analysis failed: error-rate: /);
      const got = await answers(50);
      assert.deepEqual([...got.keys()], ["v1"], "every user back on v1");
      assert.equal(failed, 0, "no request failed");
    });

    if (startEngine === haproxyEngine)
      it("counted from the log exactly what HAProxy counted itself", async () => {
        paused = true;
        await new Promise((r) => setTimeout(r, 500)); // in-flight requests and the last datagrams
        const own = await (engine.counted as NonNullable<Engine["counted"]>)();
        const res = await request(`${admin}/metrics`);
        const text = await res.body.text();
        paused = false;
        const count = (version: string) =>
          [...text.matchAll(/^aviary_requests_total\{([^}]*)\} (\d+)/gm)]
            .filter(
              (m) =>
                (m[1] ?? "").includes('service="shop"') &&
                (m[1] ?? "").includes(`version="${version}"`),
            )
            .reduce((sum, m) => sum + Number(m[2]), 0);
        const logged = { v1: count("v1"), v2: count("v2") };
        // v1 only ever served from the stable backend, v2 only from the canary's.
        assert.ok(own.stable > 100 && own.canary > 10, `HAProxy counted ${JSON.stringify(own)}`);
        assert.deepEqual(
          { stable: logged.v1, canary: logged.v2 },
          own,
          `from the log ${JSON.stringify(logged)}, HAProxy's own ${JSON.stringify(own)}`,
        );
      });

    it("keeps serving the canary's share while Aviary is killed, and a restarted Aviary finishes the rollout", async () => {
      assert.equal(
        (await cli("deploy", "shop", "--version", "v3", "--target", healthy.url)).status,
        0,
      );
      await until("the canary at 20 %", async () =>
        (await view()).traffic.weight === 20 ? true : undefined,
      );
      serve?.kill("SIGKILL");
      await new Promise((r) => serve?.once("exit", r));
      // The log port is free while Aviary is down, and test files running in parallel bind
      // ephemeral ports: hold it, so the restarted Aviary finds it free (the engine's log lines
      // of these seconds are dropped, as they would be with Aviary down).
      const held = await holdUdpPort(logPort);
      seen.clear();
      const before = failed;
      await new Promise((r) => setTimeout(r, 2_000));
      const got = await answers(400);
      const share = (got.get("v3") ?? 0) / 400;
      assert.ok(share > 0.12 && share < 0.28, `the canary's share with Aviary down: ${share}`);
      assert.ok(
        (seen.get("v3") ?? 0) > 0 && (seen.get("v1") ?? 0) > 0,
        "both versions kept serving",
      );
      assert.equal(failed, before, "no request failed while Aviary was down");
      await new Promise<void>((r) => held.close(() => r()));
      await startServe();
      const r = await finished("v3");
      assert.equal(r.phase, "Healthy");
      assert.deepEqual([...(await answers(50)).keys()], ["v3"]);
      assert.equal(failed, 0, "no request failed across the whole rollout");
    });

    it("records an abort while the engine is down, says it is not applied, and applies it when the engine is back", async () => {
      // A canary the analysis has no reason to stop (it runs on the first stable's healthy
      // upstream, which answers as v1), so the abort is the operator's, sent with the engine down.
      assert.equal(
        (await cli("deploy", "shop", "--version", "v4", "--target", stable.url)).status,
        0,
      );
      await until("the canary at 20 %", async () =>
        (await view()).traffic.weight === 20 ? true : undefined,
      );
      counting = false; // the engine is about to refuse connections: users see that, not Aviary
      await engine.stop();
      const abort = await cli("abort", "shop", "--reason", "pager");
      assert.equal(abort.status, 0, abort.stderr);
      const v = await until(
        "the abort to show as not applied",
        async () => {
          const s = await view();
          return s.dataplane?.applied === false ? s : undefined;
        },
        15_000,
      );
      assert.equal(v.rollout?.phase, "Aborted", "recorded at once");
      assert.match(v.rollout?.reason ?? "", /aborted by operator:operator: pager/);
      assert.match(v.rollout?.reason ?? "", new RegExp(`recorded, not yet applied to ${name}: `));
      // Back from its original configuration (stable v1 as first rendered): Aviary re-applies v3.
      await engine.start();
      await until(
        "the engine to serve the recorded state",
        async () => {
          const s = await view();
          return s.dataplane?.applied === true && s.dataplane.why === undefined ? s : undefined;
        },
        40_000,
      );
      counting = true;
      const got = await answers(50);
      assert.deepEqual([...got.keys()], ["v3"], "stable v3, no canary");
      const history = (await cli("history", "shop")).stdout;
      assert.match(history, /traffic\.pending/);
      assert.match(history, /traffic\.(applied|drift)/);
    });
  });
}
