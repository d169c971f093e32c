/**
 * The admin API's reads of history and metrics, and its limits, over real HTTP: per-version
 * metrics from traffic sent through the router, past rollouts and the global history, a
 * 413 for an oversized body, and a 500 that shows the client no internals and the log no token.
 */

import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { request } from "undici";
import { createToken } from "../src/cli/commands/token.js";
import { ManualClock } from "../src/util/clock.js";
import { startAdmin, type TestAdmin } from "./admin-fixtures.js";
import { startUpstream, type Upstream } from "./fixtures.js";

describe("admin API reads and limits", () => {
  let stable: Upstream;
  let canary: Upstream;
  let api: TestAdmin;
  let clock: ManualClock;
  let viewer: string;
  let logged: string[];

  const get = (path: string) => api.call("GET", path, { token: viewer });
  const send = async (n: number, arm?: "canary") => {
    for (let i = 0; i < n; i++) {
      const res = await request(`${api.url}/shop/${i}`, {
        headers: arm ? { "x-arm": arm } : {},
      });
      await res.body.dump();
    }
  };

  before(async () => {
    stable = await startUpstream("v1");
    let n = 0;
    canary = await startUpstream("v2", (_req, res) => {
      res.writeHead(n++ % 2 === 0 ? 200 : 500).end("v2");
    });
    clock = new ManualClock();
    logged = [];
    api = await startAdmin({
      clock,
      log: pino({ level: "info" }, { write: (line: string) => void logged.push(line) }),
      spec: {
        services: [
          {
            name: "shop",
            match: { pathPrefix: "/shop" },
            stable: { version: "v1", targets: [stable.url] },
            routes: [{ match: { headers: { "x-arm": { exact: "canary" } } }, to: "canary" }],
            strategy: { steps: [{ pause: {} }] },
          },
        ],
      },
    });
    viewer = createToken(api.aviary.tokensFile, "viewer", "read-only").token;
    clock.advance(1_000);
    const deployed = await api.call("POST", "/api/v1/services/shop/deploy", {
      token: api.operatorToken,
      body: { version: "v2", targets: [canary.url] },
    });
    assert.equal(deployed.status, 201, deployed.text);
  });
  after(async () => {
    await api.close();
    await Promise.all([stable.close(), canary.close()]);
  });

  it("per-version metrics count the requests each version served, second by second", async () => {
    const t0 = clock.now();
    await send(4);
    await send(2, "canary");
    clock.advance(3_000);
    await send(2);
    await send(2, "canary");

    const res = await get("/api/v1/services/shop/metrics?window=10s&step=1s");
    assert.equal(res.status, 200, res.text);
    const m = res.json;
    assert.equal(m.service, "shop");
    assert.equal(m.step, 1_000);
    assert.equal(m.to, t0 + 4_000, "the window ends with the second in progress");
    assert.equal(m.from, m.to - 10_000);
    assert.deepEqual(
      m.versions.map((v: { version: string; role: string }) => `${v.version} ${v.role}`),
      ["v1 stable", "v2 canary"],
    );
    const [v1, v2] = m.versions;
    assert.deepEqual(
      { requests: v1.summary.requests, errors: v1.summary.errors, errorRate: v1.summary.errorRate },
      { requests: 6, errors: 0, errorRate: 0 },
    );
    assert.equal(v1.summary.rps, 0.6);
    assert.deepEqual(
      { requests: v2.summary.requests, errors: v2.summary.errors, errorRate: v2.summary.errorRate },
      { requests: 4, errors: 2, errorRate: 0.5 },
    );
    for (const v of [v1, v2]) {
      for (const q of ["p50Ms", "p95Ms", "p99Ms"]) assert.equal(typeof v.summary[q], "number");
      assert.equal(v.series.length, 10);
      assert.deepEqual(
        v.series.map((p: { t: number }) => p.t),
        Array.from({ length: 10 }, (_, i) => m.from + i * 1_000),
      );
    }
    assert.deepEqual(
      v1.series.map((p: { requests: number }) => p.requests),
      [0, 0, 0, 0, 0, 0, 4, 0, 0, 2],
    );
    assert.deepEqual(
      v2.series.map((p: { errors: number }) => p.errors),
      [0, 0, 0, 0, 0, 0, 1, 0, 0, 1],
    );
    const empty = v1.series[0];
    assert.deepEqual(
      { errorRate: empty.errorRate, p50Ms: empty.p50Ms, p99Ms: empty.p99Ms, rps: empty.rps },
      { errorRate: null, p50Ms: null, p99Ms: null, rps: 0 },
      "no requests: null, never a silent 0",
    );
    assert.equal(v2.series[6].errorRate, 0.5);
    assert.equal(v2.series[6].rps, 2);

    const coarse = await get("/api/v1/services/shop/metrics?window=10s&step=5s");
    assert.deepEqual(
      coarse.json.versions[0].series.map((p: { requests: number }) => p.requests),
      [0, 6],
    );
    const defaults = await get("/api/v1/services/shop/metrics");
    assert.equal(defaults.json.step, 10_000);
    assert.equal(defaults.json.to - defaults.json.from, 300_000);
    assert.equal(defaults.json.versions[0].series.length, 30);
  });

  it("refuses a bad window or step with a problem naming the query field", async () => {
    const cases: Array<[string, RegExp]> = [
      ["window=soon", /^query\.window: expected a duration/],
      ["window=1h", /^query\.window: must be at most 15m/],
      ["window=1500ms&step=1s", /^query\.window: must be a whole number of seconds/],
      ["step=500ms", /^query\.step: must be a whole number of seconds, at least 1s/],
      ["window=10m&step=7s", /^query\.step: must divide the window/],
      ["window=15m&step=1s", /^query\.step: gives 900 points; at most 600/],
      ["bucket=1s", /^query: Unrecognized key/],
    ];
    for (const [query, detail] of cases) {
      const res = await get(`/api/v1/services/shop/metrics?${query}`);
      assert.equal(res.status, 400, query);
      assert.match(res.contentType, /^application\/problem\+json/);
      assert.equal(res.json.code, "AVIARY_BAD_REQUEST");
      assert.match(res.json.detail, detail, query);
    }
    const unknown = await get("/api/v1/services/nope/metrics");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.code, "AVIARY_UNKNOWN_SERVICE");
  });

  it("lists a service's rollouts newest first, and shows one with its analyses", async () => {
    await api.call("POST", "/api/v1/services/shop/abort", { token: api.operatorToken, body: {} });
    clock.advance(1_000);
    await api.call("POST", "/api/v1/services/shop/retry", { token: api.operatorToken, body: {} });
    const list = await get("/api/v1/rollouts?service=shop");
    assert.equal(list.status, 200, list.text);
    const rollouts = list.json.rollouts as Array<{ id: string; phase: string; createdAt: number }>;
    assert.equal(rollouts.length, 2);
    assert.deepEqual(
      rollouts.map((r) => r.phase),
      ["Paused", "Aborted"],
      "the retry first, then the aborted one",
    );
    assert.ok((rollouts[0]?.createdAt ?? 0) > (rollouts[1]?.createdAt ?? 0));
    assert.equal((await get("/api/v1/rollouts?service=shop&limit=1")).json.rollouts.length, 1);

    const one = await get(`/api/v1/rollouts/${rollouts[1]?.id}`);
    assert.equal(one.status, 200);
    assert.equal(one.json.rollout.id, rollouts[1]?.id);
    assert.deepEqual(one.json.analysis, []);

    const missing = await get("/api/v1/rollouts/nope");
    assert.equal(missing.status, 404);
    assert.equal(missing.json.code, "AVIARY_NO_ROLLOUT");
    const noService = await get("/api/v1/rollouts");
    assert.equal(noService.status, 400);
    assert.match(noService.json.detail, /^query\.service: /);
    assert.equal((await get("/api/v1/rollouts?service=nope")).status, 404);
  });

  it("pages through every service's history by seq", async () => {
    const all = (await get("/api/v1/events?limit=10000")).json.events as Array<{ seq: number }>;
    assert.deepEqual(all, await api.aviary.store.eventsAfter(0));
    const first = (await get("/api/v1/events?limit=2")).json.events as Array<{ seq: number }>;
    assert.deepEqual(first, all.slice(0, 2));
    const next = (await get(`/api/v1/events?after=${first[1]?.seq}&limit=2`)).json.events;
    assert.deepEqual(next, all.slice(2, 4));
    const shop = (await get("/api/v1/events?service=shop")).json.events;
    assert.deepEqual(shop, await api.aviary.store.eventsOf("shop"));
    const bad = await get("/api/v1/events?after=-1");
    assert.equal(bad.status, 400);
    assert.match(bad.json.detail, /^query\.after: /);
  });

  it("answers 413 as a problem for a 2 MiB body, with or without a length, and applies nothing", async () => {
    const before = JSON.stringify((await get("/api/v1/events?limit=10000")).json);
    const big = JSON.stringify({ spec: "x".repeat(2 * 1024 * 1024) });
    for (const body of [big, Readable.from([Buffer.from(big)])]) {
      const res = await request(`${api.admin}/api/v1/apply`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${api.operatorToken}`,
          "content-type": "application/json",
        },
        body,
      });
      const text = await res.body.text();
      assert.equal(res.statusCode, 413, text);
      assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
      const problem = JSON.parse(text);
      assert.equal(problem.code, "AVIARY_BODY_TOO_LARGE");
      assert.match(problem.detail, /larger than the admin API's limit of 1048576 bytes/);
    }
    assert.equal(JSON.stringify((await get("/api/v1/events?limit=10000")).json), before);
  });

  it("refuses a body that is not JSON, or not sent as JSON, in Aviary's codes, and applies nothing", async () => {
    const before = JSON.stringify((await get("/api/v1/events?limit=10000")).json);
    const cases: Array<[string, string, number, string, RegExp]> = [
      ["application/json", '{"version":', 400, "AVIARY_BAD_REQUEST", /^body: not valid JSON$/],
      ["application/json", "", 400, "AVIARY_BAD_REQUEST", /^body: empty/],
      ["application/xml", "<v/>", 415, "AVIARY_UNSUPPORTED_MEDIA_TYPE", /application\/json/],
    ];
    for (const [type, body, status, code, detail] of cases) {
      const res = await api.call("POST", "/api/v1/services/shop/deploy", {
        token: api.operatorToken,
        headers: { "content-type": type },
        body,
      });
      assert.equal(res.status, status, `${type} ${body}: ${res.text}`);
      assert.match(res.contentType, /^application\/problem\+json/);
      assert.deepEqual(
        { type: res.json.type, title: res.json.title, code: res.json.code },
        {
          type: `urn:aviary:problem:${code.slice("AVIARY_".length).toLowerCase().replace(/_/g, "-")}`,
          title: status === 400 ? "Bad Request" : "Unsupported Media Type",
          code,
        },
      );
      assert.match(res.json.detail, detail);
    }
    assert.equal(JSON.stringify((await get("/api/v1/events?limit=10000")).json), before);
  });

  it("answers an overlong or malformed path as a problem, without echoing it", async () => {
    const long = "x".repeat(300);
    const tooLong = await get(`/api/v1/services/${long}`);
    assert.equal(tooLong.status, 414);
    assert.match(tooLong.contentType, /^application\/problem\+json/);
    assert.equal(tooLong.json.code, "AVIARY_URI_TOO_LONG");
    assert.ok(!tooLong.text.includes(long));
    const malformed = await get("/api/v1/services/%E0%A4%A");
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json.code, "AVIARY_BAD_REQUEST");
  });

  it("answers an internal failure without internals, and logs it without the request's token", async () => {
    // The last test: a store that is gone makes every read fail.
    await api.aviary.store.close();
    const res = await api.call("GET", "/api/v1/services", { token: viewer });
    assert.equal(res.status, 500);
    assert.deepEqual(res.json, {
      type: "urn:aviary:problem:internal",
      title: "Internal Server Error",
      status: 500,
      detail: "internal error; see the server log",
      code: "AVIARY_INTERNAL",
    });
    const line = logged.find((l) => l.includes('"request failed"'));
    assert.ok(line, "the failure is logged");
    assert.match(line, /"route":"GET \/api\/v1\/services"/);
    assert.ok(!line.includes(viewer), "no token in the log");
    assert.ok(!/authorization/i.test(line), "no Authorization header in the log");
    assert.ok(logged.every((l) => !l.includes(viewer) && !l.includes(api.operatorToken)));
  });
});
