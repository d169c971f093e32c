/**
 * A flag's rollout judged by what its users see: an application evaluates the flag in-process
 * with the published `@openfeature/server-sdk` and this repository's `AviaryProvider`, reports
 * errors with `track("error")`, and the analysis step of the flag's strategy (the sequential
 * judge on the builtin errorRate of the subject `flag:<key>`) rolls a harmful variant back by
 * itself — everyone gets the control, and the application sees it — while a harmless one is
 * promoted to everyone.
 */

import assert from "node:assert/strict";
import { after, afterEach, describe, it } from "node:test";
import { type Client, OpenFeature } from "@openfeature/server-sdk";
import { AviaryProvider } from "../src/openfeature/index.js";
import type { Rollout } from "../src/rollout/types.js";
import {
  CLIENT_KEY,
  type OfrepAviary,
  READ_ONLY_TOKEN,
  startOfrepAviary,
} from "./ofrep-fixtures.js";

const SUBJECT = "flag:new-checkout";

const FLAG = {
  key: "new-checkout",
  type: "boolean" as const,
  variants: { on: true, off: false },
  defaultVariant: "off",
  rules: [{ when: [{ attribute: "user-type", equals: "beta-tester" }], variant: "on" }],
  rollout: { variant: "on" },
  strategy: {
    steps: [{ setWeight: 50 }, { analysis: { templates: ["flag-errors"] } }],
  },
};

const TEMPLATES = [
  {
    name: "flag-errors",
    metrics: [
      {
        name: "error-rate",
        interval: "1s",
        count: 6,
        provider: { builtin: { signal: "errorRate" as const } },
        judge: { sequential: { minBakeTime: "2s" } },
      },
    ],
  },
];

let av: OfrepAviary | undefined;
afterEach(async () => {
  await OpenFeature.close();
  await av?.close();
  av = undefined;
});
after(() => OpenFeature.close());

/**
 * The application: users ask for the new checkout and, when they have it, fail `onRate` of the
 * time (`offRate` without it); every failure is tracked. Runs until the rollout has ended.
 */
async function runApp(
  a: OfrepAviary,
  client: Client,
  rates: { on: number; off: number },
): Promise<Rollout> {
  let i = 0;
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    for (let k = 0; k < 100; k++, i++) {
      const ctx = { targetingKey: `user-${i % 3_000}` };
      const on = await client.getBooleanValue("new-checkout", false, ctx);
      // Deterministic failures: the k-th request of a user fails by a fixed pattern.
      const fails = ((i * 7919) % 1000) / 1000 < (on ? rates.on : rates.off);
      if (fails) client.track("error", ctx);
    }
    const r = await a.aviary.controller.rollout(SUBJECT);
    if (r !== undefined && (r.phase === "Aborted" || r.phase === "Healthy")) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.fail(
    `the rollout did not end: ${JSON.stringify(await a.aviary.controller.rollout(SUBJECT))}`,
  );
}

async function start(): Promise<{ a: OfrepAviary; client: Client }> {
  av = await startOfrepAviary({ flags: [FLAG], analysisTemplates: TEMPLATES });
  await OpenFeature.setProviderAndWait(
    new AviaryProvider({
      baseUrl: av.ofrep,
      clientKey: CLIENT_KEY,
      reportIntervalMs: 200,
      onError: () => {},
    }),
  );
  return { a: av, client: OpenFeature.getClient() };
}

/** How many of 1,000 users (and whether a beta tester) the application now sees it for. */
async function seen(client: Client): Promise<{ on: number; beta: boolean }> {
  let on = 0;
  for (let i = 0; i < 1_000; i++)
    if (await client.getBooleanValue("new-checkout", false, { targetingKey: `probe-${i}` })) on++;
  const beta = await client.getBooleanValue("new-checkout", false, {
    targetingKey: "tester",
    "user-type": "beta-tester",
  });
  return { on, beta };
}

/** Waits until the application's provider has what Aviary serves (it follows the change stream). */
async function until<T>(what: string, get: () => Promise<T | undefined>): Promise<T> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    const v = await get();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${what} not within 10 s`);
}

describe("a flag's analysis on what its users report", () => {
  it("rolls back a variant whose users see more errors, for everyone, beta testers included", async () => {
    const { a, client } = await start();
    const r = await runApp(a, client, { on: 0.3, off: 0.01 });
    assert.equal(r.phase, "Aborted", r.reason);
    assert.match(r.reason, /analysis failed: error-rate/);
    const after = await until("everyone back on the control", async () => {
      const s = await seen(client);
      return s.on === 0 ? s : undefined;
    });
    assert.deepEqual(after, { on: 0, beta: false });
    const windows = a.aviary.flagWindows.query({
      service: SUBJECT,
      version: "on",
      from: 0,
      to: Date.now() + 1_000,
    });
    assert.ok(windows.requests > 100 && windows.errors > 20, JSON.stringify(windows));
    // The dashboard's and `get --watch`'s charts read the same tracked counts (after the
    // abort, the flag's only current variant is the control).
    const res = await fetch(
      `${a.admin}/api/v1/services/${encodeURIComponent(SUBJECT)}/metrics?window=120s`,
      { headers: { authorization: `Bearer ${READ_ONLY_TOKEN}` } },
    );
    const body = await res.text();
    assert.equal(res.status, 200, body);
    const charts = JSON.parse(body) as {
      versions: { version: string; summary: { requests: number; errorRate: number | null } }[];
    };
    assert.deepEqual(
      charts.versions.map((v) => v.version),
      ["off"],
      body,
    );
    const off = charts.versions[0]?.summary;
    assert.ok(off && off.requests > 100 && (off.errorRate ?? 1) < 0.05, body);
  });

  it("promotes a variant whose users see no more errors than the others", async () => {
    const { a, client } = await start();
    const r = await runApp(a, client, { on: 0.01, off: 0.01 });
    assert.equal(r.phase, "Healthy", r.reason);
    const after = await until("everyone on the new variant", async () => {
      const s = await seen(client);
      return s.on === 1_000 ? s : undefined;
    });
    assert.deepEqual(after, { on: 1_000, beta: true });
  });
});
