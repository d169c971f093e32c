import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { deadPort } from "../../../../test/fixtures.js";
import { type MeasureContext, ProviderError } from "../../../analysis/types.js";
import type { ProviderConfig } from "../../../spec/analysis.js";
import { runProviderConformance } from "../conformance.js";
import { createMetricProvider } from "../factory.js";
import { type FakeBackend, startFakeBackend } from "../fake-backend.js";
import { type PrometheusConfig, PrometheusProvider } from "./index.js";

const FROM = Date.UTC(2026, 0, 1, 12, 0, 0);
const TO = FROM + 37_000;

function context(over: Partial<MeasureContext> = {}): MeasureContext {
  return {
    service: "shop",
    canaryVersion: "v2",
    stableVersion: "v1",
    args: {},
    slowEdgesMs: [],
    signal: new AbortController().signal,
    ...over,
  };
}

const vector = (...values: string[]) => ({
  status: "success",
  data: {
    resultType: "vector",
    result: values.map((v, i) => ({ metric: { pod: `p${i}` }, value: [TO / 1000, v] })),
  },
});

const matrix = (...series: string[][]) => ({
  status: "success",
  data: {
    resultType: "matrix",
    result: series.map((values, i) => ({
      metric: { pod: `p${i}` },
      values: values.map((v, j) => [FROM / 1000 + j * 10, v]),
    })),
  },
});

runProviderConformance("prometheus", async () => {
  const backend = await startFakeBackend();
  const dead = await deadPort();
  const config: PrometheusConfig = {
    address: backend.url,
    query: "sum(rate(x[{{window}}]))",
    timeout: "300ms",
  };
  const provider = new PrometheusProvider(config);
  return {
    use: async (mode) => {
      if (mode === "data") backend.reply(200, vector("0.25"));
      if (mode === "empty") backend.reply(200, vector());
      if (mode === "slow") backend.hang();
      if (mode === "garbage") backend.reply(200, "<html>not prometheus</html>", "text/html");
      return mode === "down" ? new PrometheusProvider({ ...config, address: dead }) : provider;
    },
    window: { from: FROM, to: TO },
    context: {
      service: "shop",
      canaryVersion: "v2",
      stableVersion: "v1",
      args: {},
      slowEdgesMs: [],
    },
    expectedValue: 0.25,
    close: () => backend.close(),
  };
});

describe("prometheus provider", () => {
  let backend: FakeBackend;
  before(async () => {
    backend = await startFakeBackend();
  });
  after(() => backend.close());

  const provider = (over: Partial<PrometheusConfig> = {}) =>
    new PrometheusProvider({ address: backend.url, query: "q", timeout: "2s", ...over });
  const measure = (over: Partial<PrometheusConfig> = {}, ctx = context()) =>
    provider(over).measure(FROM, TO, ctx);
  const rejectsWith = async (p: Promise<unknown>, code: string, message: RegExp) => {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof ProviderError, String(err));
      assert.equal(err.code, code, err.message);
      assert.match(err.message, message);
      return true;
    });
  };

  it("sends an instant query at the window's end with the variables filled in", async () => {
    backend.reply(200, vector("0.015"));
    const obs = await measure(
      {
        query:
          'sum(rate(aviary_requests_total{service="{{service}}",version="{{canaryVersion}}",code="5xx",team="{{args.team}}"}[{{window}}]))',
      },
      context({ args: { team: "pay" } }),
    );
    const seen = backend.seen.at(-1)?.url;
    assert.equal(seen?.pathname, "/api/v1/query");
    assert.equal(
      seen?.searchParams.get("query"),
      'sum(rate(aviary_requests_total{service="shop",version="v2",code="5xx",team="pay"}[37s]))',
    );
    assert.equal(seen?.searchParams.get("time"), String(TO / 1000));
    assert.equal(seen?.searchParams.get("timeout"), "2");
    assert.equal(obs.canary.value, 0.015);
    assert.equal(obs.canary.series, undefined);
    assert.equal(obs.stable, undefined);
    assert.equal(obs.query, seen?.searchParams.get("query"));
    assert.deepEqual([obs.from, obs.to], [FROM, TO]);
  });

  it("writes a window that is not whole seconds in ms", async () => {
    backend.reply(200, vector("1"));
    await provider({ query: "x[{{window}}]" }).measure(FROM, FROM + 1500, context());
    assert.equal(backend.seen.at(-1)?.url.searchParams.get("query"), "x[1500ms]");
  });

  it("keeps a path prefix of the address", async () => {
    backend.reply(200, vector("1"));
    await measure({ address: `${backend.url}/prom` });
    assert.equal(backend.seen.at(-1)?.url.pathname, "/prom/api/v1/query");
  });

  it("measures the stable baseline with stableQuery", async () => {
    backend.handle((_req, res, url) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify(vector(url.searchParams.get("query")?.includes("v1") ? "0.01" : "0.03")),
      );
    });
    const obs = await measure({
      query: 'e{version="{{canaryVersion}}"}',
      stableQuery: 'e{version="{{stableVersion}}"}',
    });
    assert.equal(obs.canary.value, 0.03);
    assert.equal(obs.stable?.value, 0.01);
    assert.equal(obs.query, 'e{version="v2"}\nstable: e{version="v1"}');
  });

  it("when one arm's query fails, abandons the other instead of waiting out its timeout", async () => {
    let canaryClosed = false;
    backend.handle((req, res, url) => {
      if (url.searchParams.get("query") === "stable") {
        res.writeHead(422, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: "error", errorType: "execution", error: "boom" }));
      } else {
        req.socket.once("close", () => {
          canaryClosed = true;
        });
      }
    });
    await rejectsWith(
      measure({ query: "canary", stableQuery: "stable", timeout: "60s" }),
      "query-error",
      /boom/,
    );
    for (let i = 0; i < 100 && !canaryClosed; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(canaryClosed, "the canary's pending request was aborted");
  });

  it("with a step, runs a range query and gives its series, the last point as the value", async () => {
    backend.reply(200, matrix(["1", "2", "NaN", "4"]));
    const obs = await measure({ step: "10s" });
    const seen = backend.seen.at(-1)?.url;
    assert.equal(seen?.pathname, "/api/v1/query_range");
    assert.equal(seen?.searchParams.get("start"), String(FROM / 1000));
    assert.equal(seen?.searchParams.get("end"), String(TO / 1000));
    assert.equal(seen?.searchParams.get("step"), "10");
    assert.deepEqual(obs.canary.series, [1, 2, 4]);
    assert.equal(obs.canary.value, 4);
    backend.reply(200, matrix(["1", "+Inf"]));
    assert.equal((await measure({ step: "10s" })).canary.value, null);
    backend.reply(200, matrix());
    const none = await measure({ step: "10s" });
    assert.equal(none.canary.value, null);
    assert.deepEqual(none.canary.series, []);
  });

  it("reads scalars, and NaN or Inf as no data", async () => {
    backend.reply(200, {
      status: "success",
      data: { resultType: "scalar", result: [TO / 1000, "42"] },
    });
    assert.equal((await measure()).canary.value, 42);
    for (const v of ["NaN", "+Inf", "-Inf"]) {
      backend.reply(200, vector(v));
      assert.equal((await measure()).canary.value, null, v);
    }
  });

  it("refuses more than one series: aggregate in the query", async () => {
    backend.reply(200, vector("1", "2", "3", "4"));
    await rejectsWith(
      measure(),
      "multiple-series",
      /multiple series; aggregate in the query.*returned 4 \(\{pod="p0"\}/,
    );
    backend.reply(200, matrix(["1"], ["2"]));
    await rejectsWith(measure({ step: "5s" }), "multiple-series", /multiple series/);
  });

  it("reports Prometheus's own errors with their type and message", async () => {
    backend.reply(400, {
      status: "error",
      errorType: "bad_data",
      error: 'parse error: unexpected "}"',
    });
    await rejectsWith(
      measure(),
      "query-error",
      /HTTP 400\): bad_data: parse error: unexpected "\}"/,
    );
    backend.reply(200, { status: "error", errorType: "execution", error: "query timed out" });
    await rejectsWith(measure(), "query-error", /execution: query timed out/);
  });

  it("reports other failures: a non-2xx answer, JSON of another shape, a range vector, a bad sample", async () => {
    backend.reply(502, "Bad Gateway", "text/plain");
    await rejectsWith(measure(), "http-status", /HTTP 502: "Bad Gateway"/);
    backend.reply(200, { status: "success", data: { something: "else" } });
    await rejectsWith(measure(), "malformed", /not a Prometheus query result/);
    backend.reply(200, matrix(["1"]));
    await rejectsWith(measure(), "unsupported-result", /range vector/);
    backend.reply(200, vector("fast"));
    await rejectsWith(measure(), "malformed", /not a number: "fast"/);
  });

  it("sends the headers and keeps them out of the evidence and the errors", async () => {
    backend.reply(200, vector("1"));
    const obs = await measure({ headers: { authorization: "Bearer s3cret" } });
    assert.equal(backend.seen.at(-1)?.headers.authorization, "Bearer s3cret");
    assert.doesNotMatch(JSON.stringify(obs), /s3cret/);
    backend.reply(401, "unauthorized", "text/plain");
    await assert.rejects(measure({ headers: { authorization: "Bearer s3cret" } }), (err: Error) => {
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    });
  });

  it("rejects an unknown template variable before sending anything", async () => {
    const n = backend.seen.length;
    await rejectsWith(
      measure({ query: "x{v='{{canary}}'}" }),
      "template",
      /unknown template variable \{\{canary\}\}; known: .*\{\{canaryVersion\}\}/,
    );
    assert.equal(backend.seen.length, n);
  });

  it("is built by the factory, which refuses what it does not know", () => {
    const config: ProviderConfig = {
      prometheus: { address: backend.url, query: "up", headers: {}, timeout: "5s" },
    };
    assert.equal(createMetricProvider(config).type, "prometheus");
    assert.throws(
      () => createMetricProvider({ datadog: {} } as unknown as ProviderConfig),
      (err: unknown) =>
        err instanceof ProviderError &&
        err.code === "config" &&
        /unknown metric provider datadog/.test(err.message),
    );
    assert.throws(
      () => createMetricProvider({ builtin: { signal: "errorRate" } }),
      (err: unknown) =>
        err instanceof ProviderError && /needs the router's metrics registry/.test(err.message),
    );
    assert.throws(
      () => new PrometheusProvider({ address: backend.url, query: "up", step: "0s" }),
      /step must be a positive duration/,
    );
  });
});

describe("prometheus provider in counts mode", () => {
  let backend: FakeBackend;
  before(async () => {
    backend = await startFakeBackend();
  });
  after(() => backend.close());

  const counts = {
    events: 'sum(increase(e{version="{{version}}"}[{{window}}]))',
    requests: 'sum(increase(r{version="{{version}}"}[{{window}}]))',
  };
  /** Answers each of the four queries from `answers`, keyed "e v2", "r v1" and so on. */
  const answering = (answers: Record<string, ReturnType<typeof vector>>) =>
    backend.handle((_req, res, url) => {
      const q = url.searchParams.get("query") ?? "";
      const key = `${q.startsWith("sum(increase(e") ? "e" : "r"} ${/version="(v\d)"/.exec(q)?.[1]}`;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(answers[key] ?? vector("100")));
    });
  const measure = () =>
    new PrometheusProvider({ address: backend.url, counts, timeout: "2s" }).measure(
      FROM,
      TO,
      context(),
    );

  it("is an Error for NaN or ±Inf, naming the provider, the count, the version and the query", async () => {
    const cases = [
      ["e v2", "NaN", "events", "canary", "NaN", 'e\\{version="v2"\\}'],
      ["r v2", "+Inf", "requests", "canary", "\\+Inf", 'r\\{version="v2"\\}'],
      ["e v1", "-Inf", "events", "stable", "-Inf", 'e\\{version="v1"\\}'],
      ["r v1", "NaN", "requests", "stable", "NaN", 'r\\{version="v1"\\}'],
    ] as const;
    for (const [key, answer, what, name, shown, query] of cases) {
      answering({ [key]: vector(answer) });
      await assert.rejects(measure(), (err: unknown) => {
        assert.ok(err instanceof ProviderError, String(err));
        assert.equal(err.code, "bad-counts");
        assert.match(
          err.message,
          new RegExp(
            `^prometheus: counts\\.${what} for the ${name} is ${shown}, not a count.*\\(${what}: sum\\(increase\\(${query}\\[37s\\]\\)\\)\\)$`,
          ),
        );
        return true;
      });
    }
  });

  it("is an Error for a NaN scalar too", async () => {
    backend.reply(200, { status: "success", data: { resultType: "scalar", result: [0, "NaN"] } });
    await assert.rejects(measure(), /counts\.\w+ for the \w+ is NaN/);
  });

  it("still counts an empty vector (no series, no traffic yet) as 0", async () => {
    answering({ "e v2": vector(), "e v1": vector(), "r v1": vector() });
    const obs = await measure();
    assert.deepEqual(obs.canary, { value: 0, requests: 100, events: 0 });
    assert.deepEqual(obs.stable, { value: null, requests: 0, events: 0 });
  });

  it("names the query of a negative count", async () => {
    answering({ "r v1": vector("-3") });
    await assert.rejects(
      measure(),
      /counts\.requests for the stable is negative \(-3\).*\(requests: sum\(increase\(r\{version="v1"\}\[37s\]\)\)\)/,
    );
  });

  it("says in the evidence when it clamped events to requests", async () => {
    answering({ "e v2": vector("101.5") });
    const obs = await measure();
    assert.equal(obs.canary.events, 100);
    assert.match(obs.query ?? "", /\nadjusted: canary: events 101\.5 clamped to requests 100$/);
    answering({});
    assert.doesNotMatch((await measure()).query ?? "", /adjusted/);
  });
});
