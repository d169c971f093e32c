/**
 * The Prometheus templates in examples/templates/ (Istio, Envoy, HAProxy's exporter, Aviary's
 * own /metrics, a business conversion rate) against a real Prometheus: an exporter run by this
 * test serves series of exactly those names and labels for two versions, with counters growing
 * at known rates; Prometheus scrapes it every second; each template, loaded through the real spec
 * parser, is measured by the real provider in counts mode, and the sequential judge built the way
 * a run builds it rolls the worse canary back.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse as parseYaml, stringify } from "yaml";
import { createJudge } from "../src/analysis/judges/index.js";
import type { MeasureContext, Verdict } from "../src/analysis/types.js";
import { createMetricProvider } from "../src/providers/metrics/factory.js";
import type { AnalysisMetric, AnalysisTemplate } from "../src/spec/analysis.js";
import { parseSpec } from "../src/spec/load.js";
import {
  findPrometheus,
  MISSING_PROMETHEUS,
  type RunningPrometheus,
  startPrometheus,
  until,
} from "./prometheus-server.js";

const TEMPLATES = new URL("../examples/templates/", import.meta.url);

/** Per second, per version: stable v1 and canary v2. */
const RATES = {
  requests: 200,
  errorShare: { v1: 0.02, v2: 0.08 },
  slowShare: { v1: 0.02, v2: 0.1 },
  sessions: 200,
  orderShare: { v1: 0.1, v2: 0.03 },
};
const VERSIONS = ["v1", "v2"] as const;

/** The exporter's text: every family's series for both versions, from counters of elapsed time. */
function exposition(seconds: number): string {
  const lines: string[] = [];
  const counter = (name: string, labels: Record<string, string>, value: number) => {
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(",");
    lines.push(`${name}{${l}} ${Math.floor(value)}`);
  };
  for (const v of VERSIONS) {
    const requests = RATES.requests * seconds;
    const errors = requests * RATES.errorShare[v];
    const fast = requests * (1 - RATES.slowShare[v]);
    // Istio: requests by code, and the duration histogram (ms).
    const istio = {
      reporter: "destination",
      destination_service_name: "shop",
      destination_version: v,
    };
    counter("istio_requests_total", { ...istio, response_code: "200" }, requests - errors);
    counter("istio_requests_total", { ...istio, response_code: "503" }, errors);
    for (const le of ["100", "500", "+Inf"])
      counter(
        "istio_request_duration_milliseconds_bucket",
        { ...istio, le },
        le === "+Inf" ? requests : le === "500" ? fast : fast / 2,
      );
    counter("istio_request_duration_milliseconds_count", istio, requests);
    // Envoy: one cluster per version.
    const cluster = { envoy_cluster_name: `shop_${v}` };
    counter("envoy_cluster_upstream_rq_total", cluster, requests);
    counter(
      "envoy_cluster_upstream_rq_xx",
      { ...cluster, envoy_response_code_class: "2" },
      requests - errors,
    );
    counter("envoy_cluster_upstream_rq_xx", { ...cluster, envoy_response_code_class: "5" }, errors);
    for (const le of ["500", "+Inf"])
      counter(
        "envoy_cluster_upstream_rq_time_bucket",
        { ...cluster, le },
        le === "+Inf" ? requests : fast,
      );
    counter("envoy_cluster_upstream_rq_time_count", cluster, requests);
    // HAProxy's exporter: one backend per version.
    const proxy = { proxy: `shop_${v}` };
    counter("haproxy_backend_http_requests_total", proxy, requests);
    counter("haproxy_backend_http_responses_total", { ...proxy, code: "2xx" }, requests - errors);
    counter("haproxy_backend_http_responses_total", { ...proxy, code: "5xx" }, errors);
    // Aviary's router; mirrored copies must be left out, so the mirror's series are all errors.
    for (const role of [v === "v1" ? "stable" : "canary", "mirror"]) {
      const a = { service: "shop", version: v, role };
      const mirror = role === "mirror";
      counter("aviary_requests_total", { ...a, code: "2xx" }, mirror ? 0 : requests - errors);
      counter("aviary_requests_total", { ...a, code: "5xx" }, mirror ? requests : errors);
      counter("aviary_requests_total", { ...a, code: "timeout" }, 0);
      for (const le of ["0.5", "+Inf"])
        counter(
          "aviary_request_duration_seconds_bucket",
          { ...a, le },
          mirror ? 0 : le === "+Inf" ? requests : fast,
        );
      counter("aviary_request_duration_seconds_count", a, mirror ? 0 : requests);
    }
    // The shop's business counters.
    const sessions = RATES.sessions * seconds;
    counter("shop_sessions_total", { version: v }, sessions);
    counter("shop_orders_total", { version: v }, sessions * RATES.orderShare[v]);
  }
  return `${lines.join("\n")}\n`;
}

function loadTemplate(file: string, address: string): AnalysisTemplate {
  const template = parseYaml(readFileSync(new URL(file, TEMPLATES), "utf8")) as Record<
    string,
    unknown
  >;
  for (const m of template.metrics as Array<{ provider: { prometheus: { address: string } } }>)
    m.provider.prometheus.address = address;
  const spec = parseSpec(
    stringify({
      services: [
        {
          name: "shop",
          match: { pathPrefix: "/shop" },
          stable: { version: "v1", targets: ["http://127.0.0.1:9"] },
        },
      ],
      analysisTemplates: [template],
    }),
    file,
  );
  return spec.analysisTemplates[0] as AnalysisTemplate;
}

const context = (template: AnalysisTemplate): MeasureContext => ({
  service: "shop",
  canaryVersion: "v2",
  stableVersion: "v1",
  args: Object.fromEntries(template.args.map((a) => [a.name, a.value ?? ""])),
  slowEdgesMs: [],
  signal: new AbortController().signal,
});

it("finds the prometheus binary", () => {
  if (findPrometheus() === undefined) assert.fail(MISSING_PROMETHEUS);
});

describe("Prometheus templates in counts mode against a real Prometheus", {
  timeout: 120_000,
}, () => {
  let exporter: Server;
  let prometheus: RunningPrometheus;
  let dir: string;
  const started = Date.now();
  /** When Prometheus first scraped the exporter (epoch ms). */
  let firstScrape = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "aviary-templates-"));
    exporter = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(exposition((Date.now() - started) / 1000));
    });
    await new Promise<void>((r) => exporter.listen(0, "127.0.0.1", r));
    const { port } = exporter.address() as AddressInfo;
    prometheus = await startPrometheus(dir, [`127.0.0.1:${port}`]);
    await until(
      "prometheus scraping the exporter",
      30_000,
      async () =>
        (await prometheus.query('up{job="test"}'))[0]?.value[1] === "1" ? true : undefined,
      prometheus.log,
    );
    firstScrape = Date.now();
    // Enough history for six 5-second windows after the first scrape, plus a scrape of margin.
    await new Promise((r) => setTimeout(r, 33_000));
  });

  after(async () => {
    await prometheus?.stop();
    await new Promise<void>((r) => (exporter ? exporter.close(() => r()) : r()));
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** What each template's metrics should count over 10 s, per version. */
  const expected: Record<string, { events: Record<string, number>; requests: number }> = {
    errors: { events: { v1: 200 * 10 * 0.02, v2: 200 * 10 * 0.08 }, requests: 2000 },
    "slow-requests": { events: { v1: 200 * 10 * 0.02, v2: 200 * 10 * 0.1 }, requests: 2000 },
    orders: { events: { v1: 200 * 10 * 0.1, v2: 200 * 10 * 0.03 }, requests: 2000 },
  };

  for (const file of [
    "istio.yaml",
    "envoy.yaml",
    "haproxy.yaml",
    "aviary.yaml",
    "conversion.yaml",
  ]) {
    it(`${file}: every metric counts events and requests per version over the window`, async () => {
      const template = loadTemplate(file, prometheus.url);
      assert.ok(template.metrics.length >= 1);
      const to = Date.now() - 2_000; // a scrape behind now, so the window is complete
      for (const metric of template.metrics) {
        const want = expected[metric.name];
        assert.ok(want !== undefined, `no expectation for ${metric.name}`);
        const provider = createMetricProvider(metric.provider);
        const obs = await provider.measure(to - 10_000, to, context(template));
        for (const [arm, version] of [
          ["canary", "v2"],
          ["stable", "v1"],
        ] as const) {
          const got = obs[arm];
          assert.ok(got !== undefined, `${file} ${metric.name}: no ${arm}`);
          const near = (x: number | undefined, y: number, what: string) =>
            assert.ok(
              x !== undefined && Math.abs(x - y) <= 0.3 * y + 2,
              `${file} ${metric.name} ${arm} ${what}: got ${x}, expected about ${y}\nquery: ${obs.query}`,
            );
          near(got.requests, want.requests, "requests");
          near(got.events, want.events[version] as number, "events");
        }
      }
    });
  }

  /** Feeds a metric's judge, built as a run builds it, successive 5 s windows of the history. */
  async function judgeOverHistory(
    metric: AnalysisMetric,
    template: AnalysisTemplate,
  ): Promise<Verdict[]> {
    const judge = createJudge(metric);
    const provider = createMetricProvider(metric.provider);
    const verdicts: Verdict[] = [];
    for (let from = firstScrape + 1_000; from + 5_000 <= Date.now() - 2_000; from += 5_000) {
      const obs = await provider.measure(from, from + 5_000, context(template));
      const v = judge.judge(obs, from + 5_000);
      verdicts.push(v);
      if (v.phase === "Failed") break;
    }
    return verdicts;
  }

  it("rolls back the canary with four times the errors (Istio template, sequential judge)", async () => {
    const template = loadTemplate("istio.yaml", prometheus.url);
    const errors = template.metrics.find((m) => m.name === "errors") as AnalysisMetric;
    const verdicts = await judgeOverHistory(errors, template);
    const last = verdicts.at(-1);
    assert.equal(last?.phase, "Failed", verdicts.map((v) => v.message).join("\n"));
    assert.match(last?.message ?? "", /^canary errors \d+(\.\d+)?\/\d+/);
  });

  it("rolls back the canary whose sessions convert less (3 % against 10 %) (direction: decrease)", async () => {
    const template = loadTemplate("conversion.yaml", prometheus.url);
    const orders = template.metrics[0] as AnalysisMetric;
    const verdicts = await judgeOverHistory(orders, template);
    const last = verdicts.at(-1);
    assert.equal(last?.phase, "Failed", verdicts.map((v) => v.message).join("\n"));
    assert.match(last?.message ?? "", /canary orders .* against "canary ≥ 0\.9 × stable"/);
  });
});
