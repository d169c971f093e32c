/**
 * OFREP over real HTTP: every status and body the OpenAPI document gives, the bulk ETag, key
 * separation between the OFREP listener and the admin API, hostile input, and the change
 * stream telling a client that an applied spec changed the flags.
 */

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { evaluate } from "../src/flags/evaluate.js";
import { Flag } from "../src/flags/schema.js";
import {
  CLIENT_KEY,
  FLAGS,
  type OfrepAviary,
  READ_ONLY_TOKEN,
  ROUTER_TOKEN,
  startOfrepAviary,
} from "./ofrep-fixtures.js";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field
  json: any;
}

let av: OfrepAviary;

async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${CLIENT_KEY}` },
): Promise<Reply> {
  const res = await request(`${av.ofrep}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    text,
    json: text === "" ? undefined : JSON.parse(text),
  };
}

const single = (key: string, ctx: unknown, headers?: Record<string, string>) =>
  post(`/ofrep/v1/evaluate/flags/${key}`, { context: ctx }, headers);

before(async () => {
  av = await startOfrepAviary({ limits: { headersTimeoutMs: 400, maxStreams: 2 } });
});
after(async () => {
  await av?.close();
});

describe("OFREP single evaluation", () => {
  it("answers a success as JSON, always with value, variant, reason and metadata", async () => {
    const r = await single("new-checkout", { targetingKey: "u1", "user-type": "beta-tester" });
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/json");
    assert.deepEqual(r.json, {
      key: "new-checkout",
      value: true,
      reason: "TARGETING_MATCH",
      variant: "on",
      metadata: { team: "payments", rule: "beta testers" },
    });
    const s = await single("banner-text", {});
    assert.deepEqual(s.json, {
      key: "banner-text",
      value: "Welcome",
      reason: "STATIC",
      variant: "plain",
    });
  });

  it("agrees with evaluate() for a 5 % rollout", async () => {
    const flag = Flag.parse(FLAGS[0]);
    for (let i = 0; i < 40; i++) {
      const ctx = { targetingKey: `user-${i}` };
      const r = await single("new-checkout", ctx);
      assert.equal(r.json.value, evaluate(flag, ctx).value, ctx.targetingKey);
      assert.equal(r.json.reason, "SPLIT");
    }
  });

  it("404 FLAG_NOT_FOUND for an unknown key", async () => {
    const r = await single("nope", { targetingKey: "u1" });
    assert.equal(r.status, 404);
    assert.equal(r.headers["content-type"], "application/json");
    assert.equal(r.json.key, "nope");
    assert.equal(r.json.errorCode, "FLAG_NOT_FOUND");
    assert.equal(typeof r.json.errorDetails, "string");
  });

  it("400 TARGETING_KEY_MISSING, INVALID_CONTEXT and PARSE_ERROR with the key", async () => {
    const missing = await single("new-checkout", {});
    assert.equal(missing.status, 400);
    assert.equal(missing.json.errorCode, "TARGETING_KEY_MISSING");
    assert.equal(missing.json.key, "new-checkout");
    const invalid = await single("new-checkout", 5);
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json.errorCode, "INVALID_CONTEXT");
    const badKey = await single("new-checkout", { targetingKey: 7 });
    assert.equal(badKey.json.errorCode, "INVALID_CONTEXT");
    const parse = await post("/ofrep/v1/evaluate/flags/new-checkout", "{not json");
    assert.equal(parse.status, 400);
    assert.equal(parse.json.errorCode, "PARSE_ERROR");
    assert.equal(parse.json.key, "new-checkout");
    assert.equal(parse.headers["content-type"], "application/json");
  });
});

describe("OFREP keys", () => {
  it("accepts a client key as Bearer or X-API-Key", async () => {
    assert.equal((await single("banner-text", {}, { "x-api-key": CLIENT_KEY })).status, 200);
  });

  it("401 with no body without a key, or with an unknown one", async () => {
    for (const headers of [{}, { authorization: "Bearer nope" }, { "x-api-key": "nope" }]) {
      const r = await single("banner-text", {}, headers);
      assert.equal(r.status, 401);
      assert.equal(r.text, "");
    }
  });

  it("403 with no body for the operator, read-only and router tokens", async () => {
    for (const token of [av.operatorToken, READ_ONLY_TOKEN, ROUTER_TOKEN]) {
      const r = await single("banner-text", {}, { authorization: `Bearer ${token}` });
      assert.equal(r.status, 403);
      assert.equal(r.text, "");
    }
  });

  it("a client key opens nothing of the admin API", async () => {
    for (const path of ["/api/v1/services", "/api/v1/tokens"]) {
      const res = await request(`${av.admin}${path}`, {
        headers: { authorization: `Bearer ${CLIENT_KEY}` },
      });
      const text = await res.body.text();
      assert.equal(res.statusCode, 403, `${path}: ${text}`);
      assert.match(text, /client role/);
    }
  });
});

describe("OFREP bulk evaluation", () => {
  it("evaluates every flag, with a strong ETag that If-None-Match turns into 304", async () => {
    const ctx = { context: { targetingKey: "u1", "user-type": "beta-tester" } };
    const r = await post("/ofrep/v1/evaluate/flags", ctx);
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/json");
    const etag = String(r.headers.etag);
    assert.match(etag, /^"[A-Za-z0-9_-]+"$/, "strong");
    assert.deepEqual(
      r.json.flags.map((f: { key: string; value: unknown }) => [f.key, f.value]),
      [
        ["new-checkout", true],
        ["banner-text", "Welcome"],
      ],
    );
    assert.equal(r.json.eventStreams[0].type, "sse");
    const again = await post("/ofrep/v1/evaluate/flags", ctx, {
      authorization: `Bearer ${CLIENT_KEY}`,
      "if-none-match": etag,
    });
    assert.equal(again.status, 304);
    assert.equal(again.text, "");
    assert.equal(again.headers.etag, etag);
    const other = await post("/ofrep/v1/evaluate/flags", { context: { targetingKey: "u1" } });
    assert.notEqual(other.headers.etag, etag, "another context, another result");
  });

  it("reports a flag's failure in line, and a bad context for the whole request", async () => {
    const r = await post("/ofrep/v1/evaluate/flags", { context: {} });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.flags[0], {
      key: "new-checkout",
      errorCode: "TARGETING_KEY_MISSING",
      errorDetails: r.json.flags[0].errorDetails,
      metadata: { team: "payments" },
    });
    const bad = await post("/ofrep/v1/evaluate/flags", { context: [] });
    assert.equal(bad.status, 400);
    assert.deepEqual(Object.keys(bad.json).sort(), ["errorCode", "errorDetails"]);
    assert.equal(bad.json.errorCode, "INVALID_CONTEXT");
  });
});

describe("OFREP hostile input", () => {
  it("refuses a body over the limit with 413, JSON, before reading it", async () => {
    const r = await post("/ofrep/v1/evaluate/flags", {
      context: { targetingKey: "x".repeat(200_000) },
    }).catch((err: unknown) => ({ status: -1, err }) as unknown as Reply);
    // The server answers and closes; a client still writing may see the reset instead.
    if (r.status !== -1) {
      assert.equal(r.status, 413);
      assert.equal(r.headers["content-type"], "application/json");
    }
  });

  it("refuses a body that is not JSON with 415", async () => {
    const r = await post("/ofrep/v1/evaluate/flags", "context=1", {
      authorization: `Bearer ${CLIENT_KEY}`,
      "content-type": "application/x-www-form-urlencoded",
    });
    assert.equal(r.status, 415);
    assert.equal(r.headers["content-type"], "application/json");
    assert.match(r.json.errorDetails, /application\/json/);
  });

  it("closes a connection whose request head does not arrive in time (slowloris)", async () => {
    const port = Number(new URL(av.ofrep).port);
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => {
        s.write("POST /ofrep/v1/evaluate/flags HTTP/1.1\r\nHost: x\r\n");
      });
      const t0 = performance.now();
      s.on("error", () => {});
      // Read what comes (Node's 408), or the end is never seen.
      s.resume();
      s.on("close", () => resolve(performance.now() - t0));
      setTimeout(() => {
        s.destroy();
        reject(new Error("the server kept a half-sent request head open for 5 s"));
      }, 5_000).unref();
    });
    assert.ok(closedAfter < 5_000);
  });

  it("answers unknown paths and methods as JSON", async () => {
    const r = await request(`${av.ofrep}/ofrep/v1/evaluate/flags`, { method: "GET" });
    assert.equal(r.statusCode, 405);
    assert.equal(r.headers["content-type"], "application/json");
    await r.body.text();
    const n = await request(`${av.ofrep}/elsewhere`, { method: "POST" });
    assert.equal(n.statusCode, 404);
    await n.body.text();
  });
});

describe("OFREP change stream", () => {
  it("tells an open stream to refetch when an applied spec changes the flags, and only then", async () => {
    const bulk = await post("/ofrep/v1/evaluate/flags", { context: { targetingKey: "u1" } });
    assert.equal(bulk.json.eventStreams[0].url, undefined, "a path, on the client's own origin");
    const url = `${av.ofrep}${bulk.json.eventStreams[0].endpoint.requestUri}`;
    assert.match(url, /\/ofrep\/v1\/flag-changes\?ticket=/);
    assert.ok(!url.includes(CLIENT_KEY), "the key itself never goes into a URL");
    const controller = new AbortController();
    const res = await request(url, { signal: controller.signal });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers["content-type"]), /^text\/event-stream/);
    let seen = "";
    const got = (async () => {
      for await (const chunk of res.body) {
        seen += chunk.toString();
        if (seen.includes("refetchEvaluation")) return;
      }
    })();
    const changed = FLAGS.map((f) =>
      f.key === "banner-text" ? { ...f, defaultVariant: "festive" } : f,
    );
    await av.setFlags(changed);
    await got;
    const data = /data: (.*)\n/.exec(seen)?.[1];
    assert.equal(JSON.parse(data ?? "{}").type, "refetchEvaluation");
    controller.abort();
    const r = await single("banner-text", {});
    assert.equal(r.json.value, "Happy holidays");
  });

  it("refuses a forged ticket (401) and more streams than the cap (503)", async () => {
    const forged = await request(
      `${av.ofrep}/ofrep/v1/flag-changes?ticket=web-app.1.${"A".repeat(43)}`,
    );
    assert.equal(forged.statusCode, 401);
    await forged.body.text();
    const open: AbortController[] = [];
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const c = new AbortController();
      open.push(c);
      const r = await request(`${av.ofrep}/ofrep/v1/flag-changes`, {
        headers: { "x-api-key": CLIENT_KEY },
        signal: c.signal,
      });
      statuses.push(r.statusCode);
      if (r.statusCode !== 200) await r.body.text();
    }
    for (const c of open) c.abort();
    assert.deepEqual(statuses, [200, 200, 503]);
  });
});
