/**
 * The OFREP listener's rate limits: the published server provider pausing on a 429 until its
 * Retry-After, and the limits' bounds over raw HTTP (429 for a flood of bad keys from one
 * address, no effect of that on a valid key, a bucket table that stays bounded under a flood
 * of source addresses). The buckets run on a manual clock: only the provider's own pause is
 * waited out in real time.
 */

import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { ErrorCode, OpenFeature } from "@openfeature/server-sdk";
import { RATE_LIMITED_METRIC } from "../src/ofrep/server.js";
import { ManualClock } from "../src/util/clock.js";
import { CLIENT_KEY, type OfrepAviary, startOfrepAviary } from "./ofrep-fixtures.js";

let av: OfrepAviary;
const clock = new ManualClock();
/** Every request the OFREP listener received, by path. */
const received: string[] = [];

before(async () => {
  av = await startOfrepAviary({
    clock,
    // 0.5/s: an empty bucket has its next token 2 s away, so Retry-After is 2.
    rateLimit: { perKey: 0.5, burst: 3, perAddress: 1, maxBuckets: 4 },
  });
  av.aviary.ofrep?.server.on("request", (req) => received.push(req.url ?? ""));
});
after(async () => {
  await OpenFeature.close();
  await av?.close();
});

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One evaluation over node:http, from a chosen loopback source address. */
function evaluate(key: string | undefined, localAddress = "127.0.0.1"): Promise<Raw> {
  const url = new URL(`${av.ofrep}/ofrep/v1/evaluate/flags/banner-text`);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        localAddress,
        agent: false,
        headers: {
          "content-type": "application/json",
          ...(key !== undefined ? { "x-api-key": key } : {}),
        },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify({ context: { targetingKey: "u-1" } }));
  });
}

async function until(what: string, ok: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await ok())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("OFREP rate limits", () => {
  it("@openfeature/ofrep-provider sends nothing after a 429 until its Retry-After", async () => {
    await OpenFeature.setProviderAndWait(
      new OFREPProvider({ baseUrl: av.ofrep, headers: { "X-API-Key": CLIENT_KEY } }),
    );
    const client = OpenFeature.getClient();
    const ctx = { targetingKey: "u-1" };
    for (let i = 0; i < 3; i++)
      assert.equal(await client.getStringValue("banner-text", "?", ctx), "Welcome", `burst ${i}`);
    const limited = await client.getStringDetails("banner-text", "?", ctx);
    assert.equal(limited.value, "?", "the caller's default");
    assert.equal(limited.errorCode, ErrorCode.GENERAL);
    const sent = received.length;
    for (let i = 0; i < 5; i++) {
      const d = await client.getStringDetails("banner-text", "?", ctx);
      assert.match(d.errorMessage ?? "", /paused due to TooManyRequests/);
    }
    assert.equal(received.length, sent, "no request during the pause");
    // The bucket refills on the manual clock; the provider's pause ends in real time.
    clock.advance(10_000);
    await until(
      "the provider to evaluate again",
      async () => (await client.getStringValue("banner-text", "?", ctx)) === "Welcome",
    );
    assert.ok(received.length > sent);
  });

  it("answers 429 with Retry-After and no body to a flood of bad keys from one address", async () => {
    const from = "127.0.0.9";
    // perAddress 1: a burst of 2, then 1 a second.
    assert.equal((await evaluate("made-up-key", from)).status, 401);
    assert.equal((await evaluate(undefined, from)).status, 401);
    const r = await evaluate("another-made-up-key", from);
    assert.equal(r.status, 429);
    assert.equal(r.headers["retry-after"], "1");
    assert.equal(r.body, "");
    assert.equal(r.headers["content-length"], "0");
    assert.equal(r.headers["access-control-allow-origin"], "*");
    assert.match(String(r.headers["access-control-expose-headers"]), /Retry-After/);
    // The valid key is charged to itself, not to the address its neighbours flood from.
    clock.advance(10_000);
    for (let i = 0; i < 3; i++)
      assert.equal((await evaluate("guess", from)).status, i < 2 ? 401 : 429);
    const good = await evaluate(CLIENT_KEY, from);
    assert.equal(good.status, 200, good.body);
    assert.equal(JSON.parse(good.body).value, "Welcome");
    const metric = await av.aviary.metrics.prometheus.getSingleMetricAsString(RATE_LIMITED_METRIC);
    assert.match(metric, /limit="address"\} [1-9]/);
    assert.match(metric, /limit="key"\} [1-9]/);
    assert.doesNotMatch(metric, /127\.0\.0|web-app|client-key/, "no address or key in the metric");
  });

  it("keeps the address table bounded under a flood of source addresses", async () => {
    for (let i = 10; i < 40; i++) {
      const r = await evaluate(undefined, `127.0.0.${i}`);
      assert.ok(r.status === 401 || r.status === 429, String(r.status));
    }
    const buckets = av.aviary.ofrep?.buckets;
    assert.ok(buckets !== undefined);
    assert.equal(buckets.addresses, 4);
    assert.equal(buckets.keys, 1);
  });

  it("charges change-stream opens too: bad tickets from one address get 429", async () => {
    const open = (ticket: string) =>
      new Promise<number>((resolve, reject) => {
        const url = new URL(`${av.ofrep}/ofrep/v1/flag-changes?ticket=${ticket}`);
        const req = httpRequest(
          {
            host: url.hostname,
            port: url.port,
            path: `${url.pathname}${url.search}`,
            localAddress: "127.0.0.50",
            agent: false,
          },
          (res) => {
            resolve(res.statusCode ?? 0);
            res.destroy();
          },
        );
        req.on("error", reject);
        req.end();
      });
    assert.deepEqual(
      [await open("x.1.y"), await open("web-app.1.forged"), await open("z")],
      [401, 401, 429],
    );
  });

  it("refuses a rate limit that admits nothing, naming the field", async () => {
    const { Spec } = await import("../src/spec/schema.js");
    const r = Spec.safeParse({ ofrep: { listen: "127.0.0.1:0", rateLimit: { perKey: 0 } } });
    assert.equal(r.success, false);
    assert.deepEqual(r.error?.issues[0]?.path, ["ofrep", "rateLimit", "perKey"]);
  });
});
