import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { deadPort } from "../../../../test/fixtures.js";
import { type MeasureContext, ProviderError } from "../../../analysis/types.js";
import { runProviderConformance } from "../conformance.js";
import { createMetricProvider } from "../factory.js";
import { type FakeBackend, startFakeBackend } from "../fake-backend.js";
import { WebProvider } from "./index.js";

const FROM = Date.UTC(2026, 0, 1, 12, 0, 0);
const TO = FROM + 60_000;

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

runProviderConformance("web", async () => {
  const backend = await startFakeBackend();
  const dead = await deadPort();
  const config = {
    url: `${backend.url}/metrics/{{service}}`,
    jsonPath: "$.data.value",
    timeout: "300ms",
  };
  const provider = new WebProvider(config);
  return {
    use: async (mode) => {
      if (mode === "data") backend.reply(200, { data: { value: 0.25 } });
      if (mode === "empty") backend.reply(200, { data: { value: null } });
      if (mode === "slow") backend.hang();
      if (mode === "garbage") backend.reply(200, "<html>oops</html>", "text/html");
      return mode === "down" ? new WebProvider({ ...config, url: `${dead}/metrics` }) : provider;
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

describe("web provider", () => {
  let backend: FakeBackend;
  before(async () => {
    backend = await startFakeBackend();
  });
  after(() => backend.close());

  const measure = (
    config: Partial<ConstructorParameters<typeof WebProvider>[0]>,
    ctx = context(),
  ) =>
    new WebProvider({
      url: `${backend.url}/q`,
      jsonPath: "$.value",
      timeout: "2s",
      ...config,
    }).measure(FROM, TO, ctx);

  const rejectsWith = async (p: Promise<unknown>, code: string, message: RegExp) => {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof ProviderError, String(err));
      assert.equal(err.code, code, err.message);
      assert.match(err.message, message);
      return true;
    });
  };

  it("fills template variables into the URL, URL-encoded, and measures the stable URL too", async () => {
    backend.handle((_req, res, url) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ value: url.searchParams.get("v") === "v1" ? 1 : 2 }));
    });
    const obs = await measure(
      {
        url: `${backend.url}/q?svc={{service}}&v={{ canaryVersion }}&win={{window}}&team={{args.team}}`,
        stableUrl: `${backend.url}/q?svc={{service}}&v={{stableVersion}}`,
      },
      context({ args: { team: "a&b c" } }),
    );
    assert.equal(obs.canary.value, 2);
    assert.equal(obs.stable?.value, 1);
    const canaryUrl =
      backend.seen.at(-2)?.url.searchParams.get("v") === "v2"
        ? backend.seen.at(-2)
        : backend.seen.at(-1);
    assert.equal(canaryUrl?.url.searchParams.get("team"), "a&b c");
    assert.equal(canaryUrl?.url.searchParams.get("win"), "60s");
    assert.match(
      obs.query ?? "",
      /\/q\?svc=shop&v=v2&win=60s&team=a%26b%20c \$\.value\nstable: .*v=v1/,
    );
    assert.equal(obs.from, FROM);
    assert.equal(obs.to, TO);
  });

  it("sends the configured headers and never shows them", async () => {
    backend.reply(200, { value: 3 });
    const obs = await measure({ headers: { authorization: "Bearer s3cret", "x-api-key": "k3y" } });
    assert.equal(backend.seen.at(-1)?.headers.authorization, "Bearer s3cret");
    assert.equal(backend.seen.at(-1)?.headers["x-api-key"], "k3y");
    assert.doesNotMatch(JSON.stringify(obs), /s3cret|k3y/);
    backend.reply(500, { oops: true });
    await assert.rejects(measure({ headers: { authorization: "Bearer s3cret" } }), (err: Error) => {
      assert.doesNotMatch(`${err.message} ${String(err.cause)}`, /s3cret/);
      return true;
    });
  });

  it("hides secret-looking query parameters and credentials in the evidence", async () => {
    backend.reply(200, { value: 3 });
    const obs = await measure({
      url: `${backend.url.replace("//", "//me:pw@")}/q?api_key=abc&token=def&x=1`,
    });
    assert.doesNotMatch(obs.query ?? "", /abc|def|me:pw/);
    assert.match(obs.query ?? "", /api_key=REDACTED&token=REDACTED&x=1/);
  });

  it("takes numbers and decimal strings; null and an empty list are no data", async () => {
    backend.reply(200, {
      value: "0.125",
      points: [],
      nested: { v: null },
      list: [
        [1, 5],
        [2, 7],
      ],
    });
    assert.equal((await measure({})).canary.value, 0.125);
    assert.equal((await measure({ jsonPath: "$.points[-1][1]" })).canary.value, null);
    assert.equal((await measure({ jsonPath: "$.nested.v" })).canary.value, null);
    assert.equal((await measure({ jsonPath: "$.list[-1][1]" })).canary.value, 7);
  });

  it("names the path and what it found when that is not a number", async () => {
    backend.reply(200, { value: "fast", obj: { a: 1, b: 2 }, flag: true });
    await rejectsWith(measure({}), "not-numeric", /jsonPath \$\.value found the string "fast"/);
    await rejectsWith(
      measure({ jsonPath: "$.obj" }),
      "not-numeric",
      /jsonPath \$\.obj found an object with keys a, b/,
    );
    await rejectsWith(measure({ jsonPath: "$.flag" }), "not-numeric", /found boolean true/);
    await rejectsWith(
      measure({ jsonPath: "$.obj.c" }),
      "no-value",
      /jsonPath \$\.obj\.c found nothing .*\$\.obj has no such key/,
    );
    await rejectsWith(measure({ jsonPath: "$.flag.x" }), "no-value", /\$\.flag is boolean true/);
  });

  it("reports a non-2xx answer with its status and the start of its body", async () => {
    backend.reply(503, "upstream overloaded", "text/plain");
    await rejectsWith(measure({}), "http-status", /HTTP 503: "upstream overloaded"/);
  });

  it("refuses an answer larger than 8 MiB", async () => {
    const big = `{"value": 1, "pad": "${"x".repeat(9 * 1024 * 1024)}"}`;
    backend.reply(200, big);
    await rejectsWith(measure({}), "malformed", /larger than 8 MiB/);
  });

  it("rejects an unknown template variable before sending anything", async () => {
    const before = backend.seen.length;
    await rejectsWith(
      measure({ url: `${backend.url}/q?x={{args.nope}}` }),
      "template",
      /\{\{args\.nope\}\}/,
    );
    assert.equal(backend.seen.length, before);
  });

  it("is built by the factory, which refuses an unusable JSON path", () => {
    const p = createMetricProvider({
      web: { url: `${backend.url}/q`, jsonPath: "$.v", headers: {}, timeout: "1s" },
    });
    assert.equal(p.type, "web");
    assert.throws(
      () =>
        createMetricProvider({
          web: { url: `${backend.url}/q`, jsonPath: "$.v[*]", headers: {}, timeout: "1s" },
        }),
      (err: unknown) =>
        err instanceof ProviderError && err.code === "config" && /not supported/.test(err.message),
    );
  });
});

describe("web provider in counts mode", () => {
  let backend: FakeBackend;
  before(async () => {
    backend = await startFakeBackend();
  });
  after(() => backend.close());

  it("reads each version's events and requests for the window it names", async () => {
    backend.handle((_req, res, url) => {
      const version = url.pathname.split("/").at(-1);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify(
          version === "v2" ? { orders: 30, sessions: "1000" } : { orders: 90, sessions: 1500 },
        ),
      );
    });
    const p = createMetricProvider({
      web: {
        url: `${backend.url}/stats/{{canaryVersion}}?from={{from}}&to={{to}}`,
        stableUrl: `${backend.url}/stats/{{stableVersion}}?from={{from}}&to={{to}}`,
        counts: { events: "$.orders", requests: "$.sessions" },
        headers: {},
        timeout: "2s",
      },
    });
    const obs = await p.measure(FROM, TO, context());
    assert.deepEqual(obs.canary, { value: 0.03, requests: 1000, events: 30 });
    assert.deepEqual(obs.stable, { value: 0.06, requests: 1500, events: 90 });
    const asked = backend.seen.at(-1)?.url;
    assert.ok(backend.seen.some((s) => s.url.searchParams.get("from") === String(FROM)));
    assert.equal(asked?.searchParams.get("to"), String(TO));
    assert.match(obs.query ?? "", /events \$\.orders of requests \$\.sessions/);
  });

  it("refuses a count too large to be finite, and says when it clamped events", async () => {
    const p = new WebProvider({
      url: `${backend.url}/c`,
      stableUrl: `${backend.url}/s`,
      counts: { events: "$.orders", requests: "$.sessions" },
    });
    backend.reply(200, { orders: 3, sessions: "1e999" });
    await assert.rejects(
      p.measure(FROM, TO, context()),
      (e: unknown) =>
        e instanceof ProviderError &&
        /web: counts\.requests for the canary is \+Inf, not a count.*\(requests: .*\/c \$\.sessions\)$/.test(
          e.message,
        ),
    );
    backend.reply(200, { orders: 10.2, sessions: 10 });
    const obs = await p.measure(FROM, TO, context());
    assert.equal(obs.canary.events, 10);
    assert.match(
      obs.query ?? "",
      /\nadjusted: canary: events 10\.2 clamped to requests 10\nadjusted: stable: events 10\.2 clamped to requests 10$/,
    );
  });

  it("is an Error naming the path a document lacks, and refuses counts without stableUrl", async () => {
    backend.reply(200, { orders: 3 });
    const p = new WebProvider({
      url: `${backend.url}/c`,
      stableUrl: `${backend.url}/s`,
      counts: { events: "$.orders", requests: "$.sessions" },
    });
    await assert.rejects(
      p.measure(FROM, TO, context()),
      (e: unknown) =>
        e instanceof ProviderError && /jsonPath \$\.sessions found nothing/.test(e.message),
    );
    assert.throws(
      () =>
        new WebProvider({ url: `${backend.url}/c`, counts: { events: "$.a", requests: "$.b" } }),
      (e: unknown) => e instanceof ProviderError && /counts mode needs stableUrl/.test(e.message),
    );
  });
});
