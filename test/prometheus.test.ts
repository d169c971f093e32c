/**
 * The prometheus metric provider against a real Prometheus (Debian's `prometheus` package):
 * Aviary's router and admin server run in-process with two upstream versions, Prometheus
 * scrapes the admin `/metrics` every second, and the provider's queries must give back what the
 * traffic was. Without the prometheus binary this fails, saying how to install it.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Pool, request } from "undici";
import type { MeasureContext } from "../src/analysis/types.js";
import { createMetricProvider } from "../src/providers/metrics/factory.js";
import { type RunningAviary, startAviary } from "../src/server.js";
import { Spec } from "../src/spec/schema.js";
import { formatListenAddress } from "../src/util/address.js";
import { silentLogger } from "../src/util/log.js";
import { startUpstream, type Upstream } from "./fixtures.js";
import { findPrometheus, freePort, MISSING_PROMETHEUS, sleep, until } from "./prometheus-server.js";

const CANARY_ROUNDS = 30;
const PER_ROUND = 20;
/** Every 4th canary request answers 500. */
const CANARY_ERROR_SHARE = 0.25;

const PROMETHEUS = findPrometheus();
const MISSING = MISSING_PROMETHEUS;

// Its own case, so a machine without Prometheus shows a plain failure, not only cancelled cases.
it("finds the prometheus binary", () => {
  if (PROMETHEUS === undefined) assert.fail(MISSING);
});

describe("prometheus provider against a real Prometheus", { timeout: 120_000 }, () => {
  let stable: Upstream;
  let canary: Upstream;
  let aviary: RunningAviary;
  let prometheus: ChildProcess | undefined;
  let promLog = "";
  let promUrl: string;
  let dir: string;
  let trafficFrom = 0;
  let trafficTo = 0;
  const sent = { stable: 0, canary: 0, canaryErrors: 0 };

  /** One instant query straight to Prometheus's API (for waiting, not for the assertions). */
  const promQuery = async (query: string): Promise<Array<{ value: [number, string] }>> => {
    const res = await request(`${promUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
    const body = (await res.body.json()) as {
      status: string;
      data: { result: Array<{ value: [number, string] }> };
    };
    assert.equal(body.status, "success");
    return body.data.result;
  };

  before(async () => {
    if (PROMETHEUS === undefined) assert.fail(MISSING);
    const bin = PROMETHEUS;
    dir = mkdtempSync(join(tmpdir(), "aviary-prometheus-"));

    let n = 0;
    stable = await startUpstream("stable");
    canary = await startUpstream("canary", (_req, res) => {
      const fail = n++ % 4 === 0;
      res.writeHead(fail ? 500 : 200, { "content-type": "text/plain" });
      res.end(fail ? "boom" : "ok");
    });
    const spec = Spec.parse({
      listen: "127.0.0.1:0",
      admin: "127.0.0.1:0",
      services: [
        {
          name: "shop",
          match: { pathPrefix: "/shop" },
          stable: { version: "v1", targets: [stable.url] },
          canary: { version: "v2", targets: [canary.url] },
          routes: [{ match: { headers: { "x-arm": { exact: "canary" } } }, to: "canary" }],
        },
      ],
    });
    aviary = await startAviary({ spec, log: silentLogger(), dataDir: join(dir, "aviary") });
    const admin = formatListenAddress(aviary.adminAddress);

    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const config = join(dir, "prometheus.yml");
    writeFileSync(
      config,
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: aviary",
        "    metrics_path: /metrics",
        "    static_configs:",
        `      - targets: ["${admin}"]`,
        "",
      ].join("\n"),
    );
    const started = Date.now();
    prometheus = spawn(
      bin,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, "tsdb")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const keep = (c: Buffer) => {
      promLog = (promLog + c.toString()).slice(-8000);
    };
    prometheus.stdout?.on("data", keep);
    prometheus.stderr?.on("data", keep);
    const exited = new Promise<never>((_, reject) =>
      prometheus?.once("exit", (code) =>
        reject(new Error(`prometheus exited (${code}):\n${promLog}`)),
      ),
    );
    exited.catch(() => {});
    const log = () => `prometheus output:\n${promLog}`;
    await Promise.race([
      exited,
      until(
        "prometheus ready",
        30_000,
        async () => {
          const res = await request(`${promUrl}/-/ready`);
          await res.body.dump();
          return res.statusCode === 200 ? true : undefined;
        },
        log,
      ),
    ]);
    const readyMs = Date.now() - started;
    await until(
      "prometheus scraping aviary",
      30_000,
      async () => {
        const up = await promQuery('up{job="aviary"}');
        return up[0]?.value[1] === "1" ? true : undefined;
      },
      log,
    );
    const scrapingMs = Date.now() - started;
    console.log(
      `# prometheus: ready ${readyMs} ms after spawn, first scrape of aviary seen after ${scrapingMs} ms`,
    );

    // Traffic over a few scrapes: each round sends PER_ROUND requests to each arm.
    const pool = new Pool(`http://${formatListenAddress(aviary.listen)}`, { connections: 8 });
    trafficFrom = Date.now();
    try {
      for (let round = 0; round < CANARY_ROUNDS; round++) {
        await Promise.all(
          Array.from({ length: PER_ROUND * 2 }, async (_, i) => {
            const arm = i % 2 === 0 ? "canary" : "stable";
            const res = await pool.request({
              path: `/shop/${round}/${i}`,
              method: "GET",
              headers: { "x-arm": arm },
            });
            await res.body.dump();
            sent[arm]++;
            if (arm === "canary" && res.statusCode === 500) sent.canaryErrors++;
          }),
        );
        await sleep(100);
      }
    } finally {
      await pool.close();
    }
    assert.equal(
      sent.canaryErrors,
      sent.canary * CANARY_ERROR_SHARE,
      "the canary upstream failed its share",
    );
    // Wait for a scrape that saw all of it.
    await until(
      "prometheus seeing every request",
      20_000,
      async () => {
        const r = await promQuery('sum(aviary_requests_total{service="shop"})');
        return Number(r[0]?.value[1]) === sent.canary + sent.stable ? true : undefined;
      },
      log,
    );
    trafficTo = Date.now();
  });

  after(async () => {
    if (
      prometheus !== undefined &&
      prometheus.exitCode === null &&
      prometheus.signalCode === null
    ) {
      const gone = new Promise((r) => prometheus?.once("exit", r));
      prometheus.kill("SIGTERM");
      const killed = setTimeout(() => prometheus?.kill("SIGKILL"), 5_000);
      await gone;
      clearTimeout(killed);
    }
    await aviary?.close();
    await Promise.all([stable?.close(), canary?.close()]);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const context = (): MeasureContext => ({
    service: "shop",
    canaryVersion: "v2",
    stableVersion: "v1",
    args: { service: "shop" },
    slowEdgesMs: [],
    signal: new AbortController().signal,
  });
  const address = () => promUrl;

  it("gives the canary's error rate over the window (instant query)", async () => {
    const rate = (version: string, code = "") =>
      `sum(rate(aviary_requests_total{service="{{args.service}}",version="${version}"${code}}[{{window}}]))`;
    const p = createMetricProvider({
      prometheus: {
        address: address(),
        query: `${rate("{{canaryVersion}}", ',code="5xx"')} / ${rate("{{canaryVersion}}")}`,
        stableQuery: `(${rate("{{stableVersion}}", ',code="5xx"')} or vector(0)) / ${rate("{{stableVersion}}")}`,
        headers: { authorization: "Bearer not-needed-but-sent" },
        timeout: "10s",
      },
    });
    const from = trafficFrom - 2000;
    const obs = await p.measure(from, trafficTo, context());
    assert.ok(obs.canary.value !== null, "canary error rate present");
    assert.ok(
      Math.abs(obs.canary.value - CANARY_ERROR_SHARE) < 0.03,
      `canary error rate ${obs.canary.value}`,
    );
    assert.equal(obs.stable?.value, 0);
    assert.match(obs.query ?? "", /version="v2",code="5xx"\}\[\d+m?s\]/);
    assert.doesNotMatch(obs.query ?? "", /Bearer/);
    assert.deepEqual([obs.from, obs.to], [from, trafficTo]);
  });

  it("gives exact request counts, canary and stable", async () => {
    const p = createMetricProvider({
      prometheus: {
        address: address(),
        query: 'sum(aviary_requests_total{service="shop",version="{{canaryVersion}}"})',
        stableQuery: 'sum(aviary_requests_total{service="shop",version="{{stableVersion}}"})',
        headers: {},
        timeout: "10s",
      },
    });
    const obs = await p.measure(trafficFrom, trafficTo, context());
    assert.equal(obs.canary.value, sent.canary);
    assert.equal(obs.stable?.value, sent.stable);
  });

  it("gives a series with a range query", async () => {
    const p = createMetricProvider({
      prometheus: {
        address: address(),
        query:
          'sum(aviary_requests_total{service="shop",version="{{canaryVersion}}",code="5xx"}) / sum(aviary_requests_total{service="shop",version="{{canaryVersion}}"})',
        step: "1s",
        headers: {},
        timeout: "10s",
      },
    });
    const obs = await p.measure(trafficFrom, trafficTo, context());
    const series = obs.canary.series ?? [];
    assert.ok(series.length >= 2, `series of ${series.length} points: ${series.join(" ")}`);
    assert.ok(
      series.every((v) => v >= 0 && v <= 1),
      `every point a share: ${series.join(" ")}`,
    );
    assert.ok(
      obs.canary.value !== null && Math.abs(obs.canary.value - CANARY_ERROR_SHARE) < 0.01,
      `last ${obs.canary.value}`,
    );
    assert.equal(obs.canary.value, series.at(-1));
  });

  it("gives null for a version without traffic, and names Prometheus's error for a bad query", async () => {
    const none = createMetricProvider({
      prometheus: {
        address: address(),
        query: 'sum(rate(aviary_requests_total{service="shop",version="v9"}[{{window}}]))',
        headers: {},
        timeout: "10s",
      },
    });
    assert.equal((await none.measure(trafficFrom, trafficTo, context())).canary.value, null);
    const bad = createMetricProvider({
      prometheus: {
        address: address(),
        query: "sum(rate(aviary_requests_total[{{window}}])",
        headers: {},
        timeout: "10s",
      },
    });
    await assert.rejects(
      bad.measure(trafficFrom, trafficTo, context()),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "query-error");
        assert.match(err.message, /bad_data/);
        return true;
      },
    );
    const many = createMetricProvider({
      prometheus: {
        address: address(),
        query: 'aviary_requests_total{service="shop",code="2xx"}',
        headers: {},
        timeout: "10s",
      },
    });
    await assert.rejects(
      many.measure(trafficFrom, trafficTo, context()),
      /multiple series; aggregate in the query/,
    );
  });
});
