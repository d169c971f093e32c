/**
 * Measuring a flag, end to end over real HTTP: the published `@openfeature/server-sdk` with
 * this repository's `AviaryProvider` evaluates in-process and tracks, the counts arrive per
 * variant on a real Aviary's OFREP listener, and the `builtin` and `flagEvent` providers
 * measure the `flag:<key>` subject from them, so the sequential judge fails the variant whose
 * users see more errors and fewer conversions. Then what a hostile client can send.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Client, OpenFeature, ProviderEvents } from "@openfeature/server-sdk";
import { createJudge } from "../src/analysis/judges/index.js";
import type { MeasureContext, MetricProvider, Verdict } from "../src/analysis/types.js";
import { evaluate } from "../src/flags/evaluate.js";
import { Flag } from "../src/flags/schema.js";
import { AviaryProvider } from "../src/openfeature/index.js";
import { createMetricProvider } from "../src/providers/metrics/factory.js";
import type { AnalysisMetric as Metric } from "../src/spec/analysis.js";
import { AnalysisMetric } from "../src/spec/analysis.js";
import { flagAwareSource } from "../src/tracking/source.js";
import {
  CLIENT_KEY,
  type OfrepAviary,
  READ_ONLY_TOKEN,
  startOfrepAviary,
} from "./ofrep-fixtures.js";

const CHECKOUT = {
  key: "new-checkout",
  type: "boolean" as const,
  variants: { on: true, off: false },
  defaultVariant: "off",
  rollout: { variant: "on", percent: 50 },
};
const BANNER = {
  key: "banner-text",
  type: "string" as const,
  variants: { plain: "Welcome", festive: "Happy holidays" },
  defaultVariant: "plain",
};

let av: OfrepAviary;
let provider: AviaryProvider;
let client: Client;
let t0: number;
/** Rounds of traffic, each in seconds of its own: [bounds[k], bounds[k + 1]). */
const ROUNDS = 6;
const bounds: number[] = [];

/** Users 0..n-1; the variant each gets, as Aviary's evaluator gives it. */
const flag = Flag.parse(CHECKOUT);
const users = Array.from({ length: 1_200 }, (_, i) => `user-${i}`);
const variantOf = (u: string) => evaluate(flag, { targetingKey: u }).variant;

before(async () => {
  av = await startOfrepAviary({ flags: [CHECKOUT, BANNER] });
  t0 = Date.now() - 1_000;
  provider = new AviaryProvider({
    baseUrl: av.ofrep,
    clientKey: CLIENT_KEY,
    // Reports are flushed by the test; the timer must not race it.
    reportIntervalMs: 3_600_000,
    onError: () => {},
  });
  await OpenFeature.setProviderAndWait(provider);
  client = OpenFeature.getClient();
});
after(async () => {
  await OpenFeature.close();
  await av?.close();
});

function subject(): Omit<MeasureContext, "signal"> {
  return {
    service: "flag:new-checkout",
    canaryVersion: "on",
    stableVersion: "off",
    args: {},
    slowEdgesMs: [],
  };
}

/** The judge over each round as one interval, as the analysis runner would, until it fails. */
async function judgeRounds(
  metric: Metric,
  p: MetricProvider,
  over: Partial<MeasureContext> = {},
): Promise<Verdict[]> {
  const judge = createJudge(metric);
  const out: Verdict[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const obs = await p.measure(bounds[k]!, bounds[k + 1]!, {
      ...subject(),
      ...over,
      signal: new AbortController().signal,
    });
    const v = judge.judge(obs, bounds[k + 1]!);
    out.push(v);
    if (v.phase === "Failed") break;
  }
  return out;
}

function windowOf(variant: string) {
  return av.aviary.flagWindows.query({
    service: "flag:new-checkout",
    version: variant,
    from: t0,
    to: Date.now() + 1_000,
  });
}

async function post(path: string, body: string | undefined, headers: Record<string, string> = {}) {
  const res = await fetch(`${av.ofrep}${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${CLIENT_KEY}`,
      "content-type": "application/json",
      ...headers,
    },
    ...(body !== undefined ? { body } : {}),
  });
  return { status: res.status, body: await res.text() };
}

describe("AviaryProvider with @openfeature/server-sdk", () => {
  const expected = { on: 0, off: 0, onErrors: 0, offErrors: 0, onBuys: 0, offBuys: 0 };

  it("evaluates in-process as Aviary does, and the exposures and events arrive per variant", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      // Each round starts on a second of its own, so the analysis can take it as one interval.
      await new Promise((r) => setTimeout(r, 1_000 - (Date.now() % 1_000) + 20));
      bounds.push(Math.floor(Date.now() / 1_000) * 1_000);
      for (const [i, u] of users.entries()) {
        const ctx = { targetingKey: u };
        const d = await client.getBooleanDetails("new-checkout", false, ctx);
        const want = variantOf(u);
        assert.equal(d.variant, want, u);
        assert.equal(d.value, want === "on");
        assert.equal(d.reason, "SPLIT");
        // The new checkout fails one user in five and converts one in twenty-five; the old
        // one fails one in fifty and converts one in six.
        const bad = want === "on" ? (i + round) % 5 === 0 : (i + round) % 50 === 0;
        const buys = want === "on" ? (i + round) % 25 === 0 : (i + round) % 6 === 0;
        if (bad) client.track("error", ctx);
        if (buys) client.track("checkout-completed", ctx);
        client.track("latency", ctx, { value: want === "on" ? 120 : 40 });
        if (want === "on") {
          expected.on++;
          if (bad) expected.onErrors++;
          if (buys) expected.onBuys++;
        } else {
          expected.off++;
          if (bad) expected.offErrors++;
          if (buys) expected.offBuys++;
        }
      }
      await provider.flush();
    }
    bounds.push(Math.ceil((Date.now() + 1) / 1_000) * 1_000);
    // A flag without a rollout is not measured: no exposure is counted for it.
    assert.equal(await client.getStringValue("banner-text", "?", { targetingKey: "u" }), "Welcome");
    assert.ok(expected.on > 400 * ROUNDS && expected.off > 400 * ROUNDS, JSON.stringify(expected));
    const on = windowOf("on");
    const off = windowOf("off");
    assert.equal(on.requests, expected.on);
    assert.equal(off.requests, expected.off);
    assert.equal(on.errors, expected.onErrors);
    assert.equal(off.errors, expected.offErrors);
    assert.equal(on.sketch.count, expected.on);
    assert.ok(Math.abs(on.latencyMs.p50 - 120) < 2, String(on.latencyMs.p50));
    assert.ok(Math.abs(off.latencyMs.p50 - 40) < 1, String(off.latencyMs.p50));
    const buys = av.aviary.flagWindows.eventCounts(
      "flag:new-checkout",
      "on",
      "checkout-completed",
      t0,
      Date.now() + 1_000,
    );
    assert.equal(buys.events, expected.onBuys);
    assert.equal(
      av.aviary.flagWindows.query({
        service: "flag:banner-text",
        version: "plain",
        from: t0,
        to: Date.now() + 1_000,
      }).requests,
      0,
    );
    const stats = provider.stats();
    assert.equal(stats.dropped, 0);
    assert.equal(stats.buffered, 0);
  });

  it("lets the builtin provider measure the flag and the sequential judge fail the variant with more errors", async () => {
    const metric = AnalysisMetric.parse({
      name: "errors",
      provider: { builtin: { signal: "errorRate" } },
    });
    const p = createMetricProvider(metric.provider, {
      metrics: flagAwareSource(av.aviary.metrics, av.aviary.flagWindows),
      flags: av.aviary.flagWindows,
    });
    const to = Date.now() + 1_000;
    const obs = await p.measure(t0, to, { ...subject(), signal: new AbortController().signal });
    assert.equal(obs.canary.requests, expected.on);
    assert.equal(obs.canary.errors, expected.onErrors);
    assert.equal(obs.stable?.errors, expected.offErrors);
    const verdicts = await judgeRounds(metric, p);
    assert.equal(verdicts.at(-1)?.phase, "Failed", verdicts.map((v) => v.message).join("\n"));
    // The same numbers the other way round (the control as the canary) do not fail it.
    const back = await p.measure(t0, to, {
      ...subject(),
      canaryVersion: "off",
      stableVersion: "on",
      signal: new AbortController().signal,
    });
    assert.ok(back.canary.requests === expected.off);
    const reversed = await judgeRounds(metric, p, { canaryVersion: "off", stableVersion: "on" });
    assert.ok(
      reversed.every((v) => v.phase !== "Failed"),
      reversed.map((v) => v.message).join("\n"),
    );
  });

  it("lets the flagEvent provider measure conversions and fail the variant with fewer (direction: decrease)", async () => {
    const metric = AnalysisMetric.parse({
      name: "conversions",
      provider: { flagEvent: { event: "checkout-completed" } },
      judge: { sequential: { direction: "decrease" } },
    });
    const p = createMetricProvider(metric.provider, { flags: av.aviary.flagWindows });
    const to = Date.now() + 1_000;
    const obs = await p.measure(t0, to, { ...subject(), signal: new AbortController().signal });
    assert.equal(obs.canary.events, expected.onBuys);
    assert.equal(obs.canary.requests, expected.on);
    assert.equal(obs.stable?.events, expected.offBuys);
    const verdicts = await judgeRounds(metric, p);
    assert.equal(verdicts.at(-1)?.phase, "Failed", verdicts.map((v) => v.message).join("\n"));
  });

  it("follows a change on the stream, or by polling, and announces it as ConfigurationChanged", async () => {
    const polling = new AviaryProvider({
      baseUrl: av.ofrep,
      clientKey: CLIENT_KEY,
      changes: "polling",
      pollIntervalMs: 100,
      reportIntervalMs: 3_600_000,
      onError: () => {},
    });
    await OpenFeature.setProviderAndWait("polling", polling);
    const heard = (c: Client) =>
      new Promise<string[]>((resolve) =>
        c.addHandler(ProviderEvents.ConfigurationChanged, (e) => resolve(e?.flagsChanged ?? [])),
      );
    const changed = heard(client);
    // The provider's own emitter: a client of another domain hears the default provider's
    // changes too (server SDK 1.23), so its handler would not say which provider changed.
    const changedPolled = new Promise<string[]>((resolve) =>
      polling.events.addHandler(ProviderEvents.ConfigurationChanged, (e) =>
        resolve((e as { flagsChanged?: string[] } | undefined)?.flagsChanged ?? []),
      ),
    );
    const before = provider.revision;
    await av.setFlags([{ ...CHECKOUT, rollout: { variant: "on", percent: 100 } }, BANNER]);
    assert.deepEqual(await changed, ["new-checkout"]);
    assert.deepEqual(await changedPolled, ["new-checkout"]);
    assert.ok(provider.revision > before);
    assert.equal(polling.revision, provider.revision);
    assert.equal(
      await client.getBooleanValue("new-checkout", false, { targetingKey: "user-1" }),
      true,
    );
  });
});

describe("the flag set route", () => {
  it("gives the served definitions with a strong ETag, and 304 for it", async () => {
    const res = await fetch(`${av.ofrep}/aviary/v1/flags`, {
      headers: { "x-api-key": CLIENT_KEY },
    });
    assert.equal(res.status, 200);
    const etag = res.headers.get("etag") ?? "";
    assert.match(etag, /^"[^"]+"$/);
    const body = (await res.json()) as { revision: number; flags: Array<{ key: string }> };
    assert.ok(body.revision > 0);
    assert.deepEqual(body.flags.map((f) => f.key).sort(), ["banner-text", "new-checkout"]);
    const again = await fetch(`${av.ofrep}/aviary/v1/flags`, {
      headers: { "x-api-key": CLIENT_KEY, "if-none-match": etag },
    });
    assert.equal(again.status, 304);
    const noKey = await fetch(`${av.ofrep}/aviary/v1/flags`);
    assert.equal(noKey.status, 401);
    const other = await fetch(`${av.ofrep}/aviary/v1/flags`, {
      headers: { "x-api-key": READ_ONLY_TOKEN },
    });
    assert.equal(other.status, 403);
  });
});

describe("the tracking endpoint against a hostile client", () => {
  const good = { flag: "new-checkout", variant: "on", count: 1 };
  const snapshot = () => {
    const on = windowOf("on");
    const off = windowOf("off");
    return JSON.stringify([
      on.requests,
      on.errors,
      on.sketch.count,
      off.requests,
      av.aviary.flagWindows.eventNames("new-checkout"),
    ]);
  };

  const cases: Array<[string, () => Promise<{ status: number; body: string }>, number, RegExp]> = [
    ["garbage", () => post("/aviary/v1/flags/track", "{not json"), 400, /not JSON/],
    [
      "a bad item after a good one",
      () =>
        post(
          "/aviary/v1/flags/track",
          JSON.stringify({ exposures: [good, { ...good, count: -5 }] }),
        ),
      400,
      /"at":"exposures\[1\]\.count"/,
    ],
    [
      "an oversized body",
      () =>
        post(
          "/aviary/v1/flags/track",
          JSON.stringify({ exposures: [good], pad: "x".repeat(300_000) }),
        ),
      413,
      /over 262144 bytes/,
    ],
    [
      "too many items",
      () =>
        post(
          "/aviary/v1/flags/track",
          JSON.stringify({ exposures: Array.from({ length: 1_001 }, () => good) }),
        ),
      400,
      /more than 1000/,
    ],
    [
      "an unknown flag and an unknown variant",
      () =>
        post(
          "/aviary/v1/flags/track",
          JSON.stringify({
            exposures: [
              { ...good, flag: "nope" },
              { ...good, variant: "maybe" },
            ],
          }),
        ),
      422,
      /no flag nope.*no variant maybe/,
    ],
    [
      "text instead of JSON",
      () => post("/aviary/v1/flags/track", "exposures", { "content-type": "text/plain" }),
      415,
      /application\/json/,
    ],
    ["no key", () => post("/aviary/v1/flags/track", "{}", { authorization: "" }), 401, /^$/],
  ];
  for (const [what, send, status, says] of cases) {
    it(`answers ${what} with ${status} and counts nothing`, async () => {
      const before = snapshot();
      const r = await send();
      assert.equal(r.status, status, r.body);
      assert.match(r.body, says);
      assert.equal(snapshot(), before);
    });
  }

  it("keeps at most 32 business event names per flag, refusing the rest by name", async () => {
    const events = Array.from({ length: 40 }, (_, i) => ({
      name: `flood-${i}`,
      flag: "new-checkout",
      variant: "on",
    }));
    const r = await post("/aviary/v1/flags/track", JSON.stringify({ events }));
    assert.equal(r.status, 200, r.body);
    const answer = JSON.parse(r.body) as {
      accepted: number;
      refusedCount: number;
      refused: Array<{ name: string }>;
    };
    // checkout-completed already holds one of the 32.
    assert.equal(answer.accepted, 31);
    assert.equal(answer.refusedCount, 9);
    assert.equal(answer.refused[0]?.name, "flood-31");
    assert.equal(av.aviary.flagWindows.eventNames("new-checkout").length, 32);
    const again = await post(
      "/aviary/v1/flags/track",
      JSON.stringify({ events: [{ name: "one-more", flag: "new-checkout", variant: "on" }] }),
    );
    assert.equal(again.status, 422);
    assert.equal(av.aviary.flagWindows.eventNames("new-checkout").length, 32);
  });
});
