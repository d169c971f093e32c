import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { StoreNotAviaryError } from "../errors.js";
import { openSqliteStore } from "./sqlite-store.js";

const dir = mkdtempSync(join(tmpdir(), "aviary-store-file-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fileIn = () => join(dir, `store-${++n}.db`);

function refusal(fn: () => unknown): StoreNotAviaryError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StoreNotAviaryError, String(err));
    return err;
  }
  assert.fail("expected a refusal");
}

describe("the store's file", () => {
  it("creates a missing file 0600, whole, with nothing left beside it", async () => {
    const file = fileIn();
    const old = process.umask(0o022);
    try {
      await openSqliteStore(file).close();
    } finally {
      process.umask(old);
    }
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(statSync(file).size > 0);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith(file.split("/").at(-1) as string)),
      [file.split("/").at(-1)],
    );
  });

  it("refuses an empty file unless initStore, then starts a store in it", async () => {
    const file = fileIn();
    writeFileSync(file, "");
    const err = refusal(() => openSqliteStore(file));
    assert.equal(err.code, "AVIARY_STORE_NOT_AVIARY");
    assert.ok(err.message.startsWith(`${file} exists but is empty (0 bytes)`), err.message);
    assert.match(err.message, /--init-store/);
    assert.equal(statSync(file).size, 0);
    const store = openSqliteStore(file, { initStore: true });
    await store.recordVersion("s", "v1", [], 1);
    await store.close();
    assert.ok(statSync(file).size > 0);
    await openSqliteStore(file).close(); // an Aviary store now
  });

  it("refuses a SQLite file without Aviary's schema unless initStore, and changes nothing", async () => {
    const file = fileIn();
    const other = new Database(file);
    other.exec("CREATE TABLE notes (body TEXT)");
    other.close();
    const before = statSync(file).mtimeMs;
    const err = refusal(() => openSqliteStore(file));
    assert.match(err.message, /is a SQLite database but not an Aviary store/);
    assert.equal(statSync(file).mtimeMs, before);
    await openSqliteStore(file, { initStore: true }).close();
    await openSqliteStore(file).close();
  });

  it("refuses a file that is not SQLite, initStore or not", async () => {
    const file = fileIn();
    writeFileSync(file, "x");
    for (const initStore of [false, true])
      assert.match(
        refusal(() => openSqliteStore(file, { initStore })).message,
        /not a SQLite database/,
      );
  });
});

describe("the store's health", () => {
  it("is ok, degraded with the SQLite error while another connection holds the lock, then ok", async () => {
    const file = fileIn();
    const store = openSqliteStore(file, { busyTimeoutMs: 10 });
    assert.deepEqual(store.health(), { ok: true });
    const other = new Database(file);
    other.exec("BEGIN EXCLUSIVE");
    await assert.rejects(store.recordVersion("s", "v1", [], 1), /locked/);
    const h = store.health();
    assert.equal(h.ok, false);
    assert.ok(!h.ok && h.error.startsWith("SQLITE_BUSY"), JSON.stringify(h));
    // A read still works in WAL mode and says nothing about writes.
    await store.versionsOf("s");
    assert.equal(store.health().ok, false);
    other.exec("ROLLBACK");
    other.close();
    await store.recordVersion("s", "v1", [], 1);
    assert.deepEqual(store.health(), { ok: true });
    await store.close();
  });

  it("a failed transaction is recorded; a constraint error is not the store's health", async () => {
    const file = fileIn();
    const store = openSqliteStore(file, { busyTimeoutMs: 10 });
    await assert.rejects(
      store.appendMeasurement({
        runId: "none",
        metric: "m",
        phase: "Successful",
        value: 1,
        evidence: {},
        message: "",
        startedAt: 1,
        finishedAt: 1,
      }),
    );
    assert.deepEqual(store.health(), { ok: true });
    const other = new Database(file);
    other.exec("BEGIN EXCLUSIVE");
    await assert.rejects(store.transaction((tx) => tx.recordVersion("s", "v1", [], 1)));
    assert.equal(store.health().ok, false);
    other.exec("ROLLBACK");
    other.close();
    await store.transaction((tx) => tx.recordVersion("s", "v1", [], 2));
    assert.deepEqual(store.health(), { ok: true });
    await store.close();
  });
});
