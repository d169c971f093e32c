/**
 * Every instance serves the applied spec's flags, leader or follower, on SQLite and on a real
 * Postgres 15: a flag changed with `aviary apply` (the admin API, sent to the follower and
 * carried out by the leader) is served by both; the applied spec's revision moves with a flag
 * change and stays for the same spec applied again.
 */

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { stringify } from "yaml";
import { hashToken } from "../src/api/tokens-file.js";
import { type RunningAviary, startAviary } from "../src/server.js";
import { Spec, type SpecInput } from "../src/spec/schema.js";
import { openPostgresStore } from "../src/store/postgres/postgres-store.js";
import { type PostgresServer, startPostgres } from "../src/store/postgres/process.js";
import { openSqliteStore } from "../src/store/sqlite/sqlite-store.js";
import type { Store } from "../src/store/store.js";
import { formatListenAddress } from "../src/util/address.js";
import { silentLogger } from "../src/util/log.js";
import { CLIENT_KEY, FLAGS } from "./ofrep-fixtures.js";

const TOKEN = "ofrep-followers-test-operator-token";

const specInput = (flags: SpecInput["flags"]): SpecInput => ({
  listen: "127.0.0.1:0",
  admin: "127.0.0.1:0",
  ofrep: { listen: "127.0.0.1:0" },
  flags,
});

async function until<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const end = performance.now() + 20_000;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (performance.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function banner(a: RunningAviary): Promise<string> {
  const at = a.ofrep?.address;
  assert.ok(at);
  const res = await request(
    `http://${formatListenAddress(at)}/ofrep/v1/evaluate/flags/banner-text`,
    {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": CLIENT_KEY },
      body: "{}",
    },
  );
  const json = (await res.body.json()) as { value: string };
  assert.equal(res.statusCode, 200);
  return json.value;
}

function onOneStore(kind: "postgres" | "sqlite") {
  describe(`flags on every instance of one ${kind === "postgres" ? "Postgres" : "SQLite file"}`, () => {
    let pg: PostgresServer | undefined;
    let url: string;
    let dir: string;
    const instances: RunningAviary[] = [];

    const openStore = async (): Promise<Store> =>
      kind === "postgres" ? openPostgresStore(url) : openSqliteStore(join(dir, "shared.db"));

    const start = async (name: string): Promise<RunningAviary> => {
      const dataDir = join(dir, name);
      mkdirSync(dataDir, { recursive: true });
      writeFileSync(join(dataDir, "tokens"), `sha256:${hashToken(CLIENT_KEY)} client web\n`);
      const saved = process.env.AVIARY_TOKEN;
      process.env.AVIARY_TOKEN = TOKEN;
      try {
        const aviary = await startAviary({
          spec: Spec.parse(specInput(FLAGS)),
          log: silentLogger(),
          dataDir,
          openedStore: await openStore(),
          leaseMs: 1_000,
          instance: name,
        });
        instances.push(aviary);
        return aviary;
      } finally {
        if (saved === undefined) delete process.env.AVIARY_TOKEN;
        else process.env.AVIARY_TOKEN = saved;
      }
    };

    before(async () => {
      if (kind === "postgres") {
        pg = await startPostgres();
        url = await pg.createDatabase("aviary");
      }
      dir = mkdtempSync(join(tmpdir(), "aviary-ofrep-followers-"));
      const a = await start("a");
      await until("a leader", async () => (a.cluster.leadership.isLeader ? true : undefined));
      await start("b");
    });

    after(async () => {
      for (const i of instances) await i.close();
      await pg?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("an apply sent to the follower changes what both serve; the same spec again keeps the revision", async () => {
      const [a, b] = instances as [RunningAviary, RunningAviary];
      assert.equal(await banner(a), "Welcome");
      assert.equal(
        await until("the follower's flags", async () => (await banner(b)) || undefined),
        "Welcome",
      );
      const first = (await a.store.getAppliedSpec())?.revision ?? 0;
      const festive = FLAGS.map((f) =>
        f.key === "banner-text" ? { ...f, defaultVariant: "festive" } : f,
      );
      const apply = async (flags: SpecInput["flags"]) => {
        const res = await request(`http://${formatListenAddress(b.adminAddress)}/api/v1/apply`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ spec: stringify({ flags }) }),
        });
        const text = await res.body.text();
        assert.ok(res.statusCode < 300, text);
      };
      await apply(festive);
      for (const i of [a, b])
        await until("the new flags", async () =>
          (await banner(i)) === "Happy holidays" ? true : undefined,
        );
      const second = (await a.store.getAppliedSpec())?.revision ?? 0;
      assert.equal(second, first + 1, "a flag change is a new revision");
      await apply(festive);
      assert.equal(
        (await a.store.getAppliedSpec())?.revision,
        second,
        "the same flags: no new revision",
      );
    });

    it("what applications track through either instance is judged by both: counts shared through the store", async () => {
      const [a, b] = instances as [RunningAviary, RunningAviary];
      assert.ok(a.cluster.leadership.isLeader && !b.cluster.leadership.isLeader);
      await track(b, {
        exposures: [{ flag: "new-checkout", variant: "on", count: 40 }],
        events: [
          { name: "error", flag: "new-checkout", variant: "on", count: 4 },
          { name: "latency", flag: "new-checkout", variant: "on", values: [100, 300] },
          { name: "checkout-completed", flag: "new-checkout", variant: "on", count: 7 },
        ],
      });
      await track(a, {
        exposures: [{ flag: "new-checkout", variant: "on", count: 60 }],
        events: [{ name: "checkout-completed", flag: "new-checkout", variant: "on", count: 3 }],
      });
      for (const [who, i] of [
        ["the leader", a],
        ["the follower", b],
      ] as const) {
        const seen = await until(`${who} counting both instances' tracking`, async () => {
          const w = onVariant(i);
          return w.requests === 100 ? w : undefined;
        });
        assert.equal(seen.errors, 4, who);
        assert.equal(seen.sketch.count, 2, who);
        assert.ok(Math.abs(seen.latencyMs.mean - 200) < 1e-9, `${who}: ${seen.latencyMs.mean}`);
        const now = Date.now();
        const conversions = i.flagWindows.eventCounts(
          "flag:new-checkout",
          "on",
          "checkout-completed",
          now - 60_000,
          now + 1_000,
        );
        assert.deepEqual([conversions.exposures, conversions.events], [100, 10], who);
      }
      // Reports are upserted and merged by second: rounds that repeat them count nothing twice.
      await new Promise((r) => setTimeout(r, 2_500));
      for (const i of [a, b]) assert.equal(onVariant(i).requests, 100);
    });
  });
}

const onVariant = (i: RunningAviary) => {
  const now = Date.now();
  return i.flagWindows.query({
    service: "flag:new-checkout",
    version: "on",
    from: now - 60_000,
    to: now + 1_000,
  });
};

async function track(i: RunningAviary, batch: unknown): Promise<void> {
  const at = i.ofrep?.address;
  assert.ok(at);
  const res = await request(`http://${formatListenAddress(at)}/aviary/v1/flags/track`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${CLIENT_KEY}` },
    body: JSON.stringify(batch),
  });
  const text = await res.body.text();
  assert.equal(res.statusCode, 200, text);
  assert.equal((JSON.parse(text) as { refusedCount: number }).refusedCount, 0, text);
}

onOneStore("sqlite");
onOneStore("postgres");
