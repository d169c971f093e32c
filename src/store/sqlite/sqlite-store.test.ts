import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { runStoreConformance } from "../conformance.js";
import { anEvent, aRollout, aService, T0 } from "../conformance-fixtures.js";
import {
  SchemaTooNewError,
  StaleWriteError,
  StoreNotAviaryError,
  StoreOpenError,
} from "../errors.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";
import { openSqliteStore } from "./sqlite-store.js";
import { SQL } from "./sqlite-tx.js";

const dir = mkdtempSync(join(tmpdir(), "aviary-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshFile = () => join(dir, `store-${++files}.db`);

// Only the file case exercises WAL, the file lock and the on-disk format.
runStoreConformance("sqlite file", () => {
  const file = freshFile();
  return { store: openSqliteStore(file), twin: () => openSqliteStore(file) };
});
runStoreConformance("sqlite :memory:", () => ({ store: openSqliteStore(":memory:") }), {
  twoInstances: false,
});

/** A plain connection beside the store's, to look at what is really in the file. */
function raw(file: string): Database.Database {
  return new Database(file);
}

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

describe("SQLite store", () => {
  it("keeps everything across close and reopen", async () => {
    const file = freshFile();
    const first = openSqliteStore(file);
    await first.transaction(async (tx) => {
      await tx.putService(aService({ rolloutId: "r-0001" }));
      await tx.putRollout(aRollout());
      await tx.appendEvent(anEvent());
    });
    const lastSeq = (await first.eventsAfter(0)).at(-1)!.seq;
    await first.close();
    await first.close(); // closing twice is harmless

    const second = openSqliteStore(file);
    assert.deepEqual(await second.getService("checkout"), aService({ rolloutId: "r-0001" }));
    assert.deepEqual(await second.getRollout("r-0001"), aRollout());
    assert.equal((await second.eventsOf("checkout")).length, 1);
    assert.ok((await second.appendEvent(anEvent())).seq > lastSeq, "seq continues after reopen");
    await second.close();
  });

  it("applies migrations once: reopening changes neither the schema nor the migration log", async () => {
    const file = freshFile();
    await openSqliteStore(file).close();
    const schemaOf = () => {
      const db = raw(file);
      try {
        return {
          objects: db.prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY name").all(),
          log: db.prepare("SELECT version, name, applied_at FROM schema_migrations").all(),
        };
      } finally {
        db.close();
      }
    };
    const before = schemaOf();
    assert.deepEqual(
      (before.log as Array<{ version: number }>).map((r) => r.version),
      MIGRATIONS.map((m) => m.version),
    );
    await openSqliteStore(file).close();
    await openSqliteStore(file).close();
    assert.deepEqual(schemaOf(), before);
  });

  it("numbers migrations 1, 2, 3... without gaps", async () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      MIGRATIONS.map((_, i) => i + 1),
    );
    assert.equal(SCHEMA_VERSION, MIGRATIONS.at(-1)!.version);
  });

  it("refuses a database from a newer Aviary, naming the file, and leaves it untouched", async () => {
    const file = freshFile();
    await openSqliteStore(file).close();
    const db = raw(file);
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(
      SCHEMA_VERSION + 1,
      "from-the-future",
      T0,
    );
    db.close();
    const before = sha256(file);

    const err = await catchError(() => openSqliteStore(file));
    assert.ok(err instanceof SchemaTooNewError, String(err));
    assert.equal(err.code, "AVIARY_STORE_SCHEMA_TOO_NEW");
    assert.ok(err.message.includes(file), err.message);
    assert.match(err.message, new RegExp(`version ${SCHEMA_VERSION + 1}.*up to ${SCHEMA_VERSION}`));
    assert.equal(sha256(file), before);
  });

  it("says which durability it runs with: FULL by default, NORMAL when asked", async () => {
    const full = openSqliteStore(freshFile());
    const normal = openSqliteStore(freshFile(), { synchronous: "normal" });
    assert.equal(full.synchronous, "full");
    assert.equal(normal.synchronous, "normal");
    await full.close();
    await normal.close();
  });

  it("migrates a schema-2 database: its services get revision 1 and can be written on", async () => {
    const file = freshFile();
    const db = raw(file);
    db.exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT",
    );
    for (const m of MIGRATIONS.slice(0, 2)) {
      db.exec(m.sql);
      db.prepare("INSERT INTO schema_migrations VALUES (?, ?, ?)").run(m.version, m.name, T0);
    }
    db.prepare(
      "INSERT INTO services (name, traffic, rollout_id, previous_stable, updated_at) VALUES (?, ?, NULL, NULL, ?)",
    ).run("checkout", JSON.stringify(aService().traffic), T0);
    db.close();
    const store = openSqliteStore(file);
    assert.deepEqual(await store.getService("checkout"), aService({ revision: 1 }));
    await store.putService(aService({ revision: 2, updatedAt: T0 + 1 }));
    assert.equal((await store.getService("checkout"))?.revision, 2);
    await store.close();
  });

  it("puts the file in WAL mode", async () => {
    const file = freshFile();
    const store = openSqliteStore(file);
    const db = raw(file);
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    db.close();
    await store.close();
  });

  it("names the file when it cannot be opened: missing directory, not a database", async () => {
    const missing = join(dir, "no-such-dir", "aviary.db");
    const err = await catchError(() => openSqliteStore(missing));
    assert.ok(err instanceof StoreOpenError, String(err));
    assert.equal(err.code, "AVIARY_STORE_OPEN");
    assert.ok(err.message.includes(missing), err.message);

    const garbage = join(dir, "garbage.db");
    writeFileSync(garbage, "this is not a database\n".repeat(200));
    const err2 = await catchError(() => openSqliteStore(garbage));
    assert.ok(err2 instanceof StoreNotAviaryError, String(err2));
    assert.ok(err2.message.includes(garbage), err2.message);
    assert.match(err2.message, /not a SQLite database/);
  });

  it("refuses a stale write made from another connection to the same file", async () => {
    const file = freshFile();
    const a = openSqliteStore(file);
    const b = openSqliteStore(file);
    await a.putRollout(aRollout());
    await b.putRollout(aRollout({ revision: 2, reason: "b was first" }));
    const err = await catchError(
      async () => await a.putRollout(aRollout({ revision: 2, reason: "a lost" })),
    );
    assert.ok(err instanceof StaleWriteError, String(err));
    assert.equal(err.storedRevision, 2);
    assert.equal((await a.getRollout("r-0001"))?.reason, "b was first");
    await a.close();
    await b.close();
  });

  it("keeps history append-only even for SQL written by hand", async () => {
    const file = freshFile();
    const store = openSqliteStore(file);
    await store.appendEvent(anEvent());
    await store.close();
    const db = raw(file);
    assert.throws(() => db.prepare("UPDATE events SET reason = 'rewritten'").run(), /append-only/);
    assert.throws(() => db.prepare("DELETE FROM events").run(), /append-only/);
    db.close();
  });

  it("answers every read from an index, never a full scan or a sort", async () => {
    const file = freshFile();
    await openSqliteStore(file).close();
    const db = raw(file);
    const reads = Object.entries(SQL).filter(([, sql]) => sql.trimStart().startsWith("SELECT"));
    for (const [name, sql] of reads) {
      const params = sql.includes("@") ? { run_id: null, metric: null, limit: -1 } : [];
      const args = Array.isArray(params) ? Array(sql.split("?").length - 1).fill(null) : [params];
      const plan = (
        db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as Array<{ detail: string }>
      )
        .map((r) => r.detail)
        .join("; ");
      assert.doesNotMatch(plan, /TEMP B-TREE/, `${name} sorts: ${plan}`);
      assert.doesNotMatch(plan, /(^|; )SCAN \w+(;|$)/, `${name} scans: ${plan}`);
      if (name === "activeRollouts") assert.match(plan, /rollouts_active/, plan);
    }
    db.close();
  });

  it("keeps a transaction committed right before SIGKILL, and none of one killed midway", async () => {
    const file = freshFile();
    const script = join(dir, "write-then-sigkill.mjs");
    const here = (name: string) =>
      pathToFileURL(fileURLToPath(new URL(name, import.meta.url))).href;
    writeFileSync(
      script,
      `
import { openSqliteStore } from ${JSON.stringify(here("./sqlite-store.ts"))};
import { aRollout, anEvent, aService } from ${JSON.stringify(here("../conformance-fixtures.ts"))};
const store = openSqliteStore(process.argv[2]);
await store.transaction(async (tx) => {
  await tx.putService(aService());
  await tx.putRollout(aRollout());
  await tx.appendEvent(anEvent({ type: "committed" }));
});
await store.transaction(async (tx) => {
  await tx.putRollout(aRollout({ revision: 2, phase: "Paused" }));
  await tx.appendEvent(anEvent({ type: "never-committed" }));
  process.kill(process.pid, "SIGKILL");
});
`,
    );
    const root = fileURLToPath(new URL("../../..", import.meta.url));
    const child = spawnSync(process.execPath, ["--import", "tsx", script, file], {
      cwd: root,
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(child.signal, "SIGKILL", `child: ${child.status} ${child.stderr}`);
    // The commit lives only in the WAL (no checkpoint ran, nothing closed the store): reopening
    // must recover it from there.
    assert.ok(statSync(`${file}-wal`).size > 0, "the WAL holds the commit");

    const store = openSqliteStore(file);
    assert.deepEqual(await store.getRollout("r-0001"), aRollout());
    assert.deepEqual(await store.getService("checkout"), aService());
    assert.deepEqual(
      (await store.eventsOf("checkout")).map((e) => e.type),
      ["committed"],
    );
    await store.close();
  });
});

async function catchError(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  assert.fail("expected an exception");
}
