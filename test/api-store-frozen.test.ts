/**
 * The admin API over a Postgres store whose server is frozen (SIGSTOP): a read answers a 503
 * problem that names the database, within the store's deadline, instead of hanging; once the
 * server resumes the same instance answers again.
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { request } from "undici";
import { type RunningAviary, startAviary } from "../src/server.js";
import { Spec } from "../src/spec/schema.js";
import { openPostgresStore } from "../src/store/postgres/postgres-store.js";
import { type PostgresServer, startPostgres } from "../src/store/postgres/process.js";
import { formatListenAddress } from "../src/util/address.js";
import { silentLogger } from "../src/util/log.js";

const TOKEN = "frozen-store-test-operator-token";

let pg: PostgresServer;
let aviary: RunningAviary;
let dir: string;

before(async () => {
  pg = await startPostgres();
  const store = await openPostgresStore(await pg.createDatabase("aviary"), {
    queryTimeoutMs: 500,
    connectTimeoutS: 2,
  });
  dir = mkdtempSync(join(tmpdir(), "aviary-frozen-"));
  const saved = process.env.AVIARY_TOKEN;
  process.env.AVIARY_TOKEN = TOKEN;
  try {
    aviary = await startAviary({
      spec: Spec.parse({ listen: "127.0.0.1:0", admin: "127.0.0.1:0" }),
      log: silentLogger(),
      dataDir: join(dir, "data"),
      openedStore: store,
    });
  } finally {
    if (saved === undefined) delete process.env.AVIARY_TOKEN;
    else process.env.AVIARY_TOKEN = saved;
  }
});

after(async () => {
  pg?.resume();
  await aviary?.close();
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function getServices(): Promise<{ status: number; json: Record<string, unknown> }> {
  const admin = `http://${formatListenAddress(aviary.adminAddress)}`;
  const res = await request(`${admin}/api/v1/services`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
}

it("a read during a database freeze answers 503 naming the database, and 200 after it", {
  timeout: 60_000,
}, async () => {
  assert.equal((await getServices()).status, 200);
  pg.pause();
  let frozen: { status: number; json: Record<string, unknown> };
  try {
    frozen = await getServices();
  } finally {
    pg.resume();
  }
  assert.equal(frozen.status, 503, JSON.stringify(frozen.json));
  assert.equal(frozen.json.code, "AVIARY_STORE_UNAVAILABLE");
  assert.match(
    String(frozen.json.detail),
    new RegExp(`postgres://127\\.0\\.0\\.1:${pg.port}/aviary`),
  );
  // The same instance, not restarted, answers again once the database does.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const back = await getServices();
    if (back.status === 200) break;
    if (Date.now() > deadline) assert.fail(`no 200 after the resume: ${JSON.stringify(back.json)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
