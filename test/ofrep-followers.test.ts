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
  });
}

onOneStore("sqlite");
onOneStore("postgres");
