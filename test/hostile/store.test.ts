/**
 * The store against a careless machine: files others can read, a database file that is empty
 * or not Aviary's, and writes that fail while `/healthz` says all is well. Real `aviary serve`
 * processes and real SQLite connections; no mocks.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { request } from "undici";
import { type RunningAviary, startAviary } from "../../src/server.js";
import { Spec } from "../../src/spec/schema.js";
import { formatListenAddress } from "../../src/util/address.js";
import { silentLogger } from "../../src/util/log.js";
import { AVIARY_BIN } from "../fixtures.js";

const SPEC = `listen: 127.0.0.1:0
admin: 127.0.0.1:0
services:
  - name: shop
    match: { pathPrefix: /shop }
    stable: { version: v1, targets: [http://127.0.0.1:9] }
`;

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), "aviary-hostile-store-"));
  writeFileSync(join(root, "aviary.yaml"), SPEC);
});
after(() => rmSync(root, { recursive: true, force: true }));

/** Runs the CLI under umask 022, the usual default, so modes are Aviary's doing. */
function cli(args: string[], env: Record<string, string> = {}) {
  const quoted = [process.execPath, AVIARY_BIN, ...args].map((a) => `'${a}'`).join(" ");
  return spawnSync("sh", ["-c", `umask 022; exec ${quoted}`], {
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, ...env, AVIARY_TOKEN: "" },
  });
}

interface Serving {
  child: ChildProcess;
  admin: string;
  stop(): Promise<void>;
}

/** `aviary serve` under umask 022; resolves once it serves, rejects with its log if it exits. */
async function serve(dataDir: string, extra: string[] = []): Promise<Serving> {
  const args = ["serve", "-c", join(root, "aviary.yaml"), "--data-dir", dataDir, ...extra];
  const quoted = [process.execPath, AVIARY_BIN, ...args].map((a) => `'${a}'`).join(" ");
  const child = spawn("sh", ["-c", `umask 022; exec ${quoted}`], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, AVIARY_TOKEN: "" },
  });
  let log = "";
  const admin = await new Promise<string>((resolve, reject) => {
    child.stderr?.on("data", (c: Buffer) => {
      log += c.toString();
      const found = /"admin":"(127\.0\.0\.1:\d+)"/.exec(log);
      if (found) resolve(`http://${found[1]}`);
    });
    child.once("exit", (code) => reject(new ServeExit(code, log)));
  });
  return {
    child,
    admin,
    stop: async () => {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

class ServeExit extends Error {
  constructor(
    readonly code: number | null,
    readonly log: string,
  ) {
    super(`aviary serve exited with ${code}:\n${log}`);
  }
}

function modeOf(file: string): string {
  return (statSync(file).mode & 0o777).toString(8).padStart(4, "0");
}

describe("files Aviary writes are its own (0600, the data directory 0700)", {
  timeout: 60_000,
}, () => {
  it("after a real serve start and stop, and a token create", async () => {
    const dataDir = join(root, "modes", "data");
    const s = await serve(dataDir);
    // While it runs: the WAL and its index exist.
    const running = Object.fromEntries(
      ["aviary.db", "aviary.db-wal", "aviary.db-shm", "operator-token"].map((f) => [
        f,
        modeOf(join(dataDir, f)),
      ]),
    );
    await s.stop();
    const created = cli(["token", "create", "--name", "ci", "--data-dir", dataDir]);
    assert.equal(created.status, 0, created.stderr);
    assert.deepEqual(running, {
      "aviary.db": "0600",
      "aviary.db-wal": "0600",
      "aviary.db-shm": "0600",
      "operator-token": "0600",
    });
    assert.equal(modeOf(join(dataDir, "aviary.db")), "0600");
    assert.equal(modeOf(join(dataDir, "tokens")), "0600");
    assert.equal(modeOf(dataDir), "0700");
  });

  it("narrows a store left 0644 by an older Aviary when it opens it", async () => {
    const dataDir = join(root, "narrow", "data");
    await (await serve(dataDir)).stop();
    chmodSync(join(dataDir, "aviary.db"), 0o644);
    const s3 = await serve(dataDir);
    const mode = modeOf(join(dataDir, "aviary.db"));
    await s3.stop();
    assert.equal(mode, "0600");
  });
});

describe("a database file that is not an Aviary store is refused", { timeout: 60_000 }, () => {
  it("refuses an empty aviary.db, naming it and --init-store, and leaves it as it was", async () => {
    const dataDir = join(root, "empty", "data");
    mkdirSync(dataDir, { recursive: true });
    const db = join(dataDir, "aviary.db");
    writeFileSync(db, "");
    const err = await serve(dataDir).then(
      async (s) => {
        await s.stop();
        return undefined;
      },
      (e: unknown) => e,
    );
    assert.ok(err instanceof ServeExit, "serve must refuse to start");
    assert.notEqual(err.code, 0);
    assert.ok(err.log.includes(db), err.log);
    assert.match(err.log, /exists but is empty \(0 bytes\)/);
    assert.match(err.log, /--init-store/);
    assert.equal(statSync(db).size, 0, "the file is untouched");

    // Told to, it starts a fresh store there.
    const s = await serve(dataDir, ["--init-store"]);
    await s.stop();
    const check = new Database(db, { readonly: true });
    const versions = check.prepare("SELECT count(*) FROM schema_migrations").pluck().get();
    check.close();
    assert.ok(Number(versions) > 0);
  });

  it("refuses a file that is not SQLite, even with --init-store", async () => {
    const dataDir = join(root, "garbage", "data");
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, "aviary.db"), "not a database at all\n".repeat(100));
    for (const extra of [[], ["--init-store"]]) {
      const err = await serve(dataDir, extra).then(
        async (s) => {
          await s.stop();
          return undefined;
        },
        (e: unknown) => e,
      );
      assert.ok(err instanceof ServeExit, "serve must refuse to start");
      assert.match(err.log, /exists but is not a SQLite database/);
    }
  });
});

describe("/healthz reports a store that cannot write", { timeout: 60_000 }, () => {
  let aviary: RunningAviary;
  let admin: string;
  let operator: string;
  before(async () => {
    const dataDir = join(root, "health", "data");
    operator = "operator-token-0123456789abcdefghijklmnop";
    const saved = process.env.AVIARY_TOKEN;
    process.env.AVIARY_TOKEN = operator;
    try {
      aviary = await startAviary({
        spec: Spec.parse({
          listen: "127.0.0.1:0",
          admin: "127.0.0.1:0",
          services: [
            {
              name: "shop",
              match: { pathPrefix: "/shop" },
              stable: { version: "v1", targets: ["http://127.0.0.1:9"] },
              strategy: { steps: [{ setWeight: 10 }, { pause: {} }] },
            },
          ],
        }),
        log: silentLogger(),
        dataDir,
        // The write below waits this long for the lock before it fails.
        store: { busyTimeoutMs: 100 },
      });
    } finally {
      if (saved === undefined) delete process.env.AVIARY_TOKEN;
      else process.env.AVIARY_TOKEN = saved;
    }
    admin = `http://${formatListenAddress(aviary.adminAddress)}`;
  });
  after(() => aviary.close());

  async function health(): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await request(`${admin}/healthz`);
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  }

  it("answers 503 degraded while another process holds the write lock, ok once released", async () => {
    assert.deepEqual(await health(), {
      status: 200,
      body: {
        status: "ok",
        version: (await health()).body.version,
        checks: { store: { ok: true } },
      },
    });

    const other = new Database(join(root, "health", "data", "aviary.db"));
    other.exec("BEGIN EXCLUSIVE");
    try {
      const before = Date.now();
      const res = await request(`${admin}/api/v1/services/shop/deploy`, {
        method: "POST",
        headers: { authorization: `Bearer ${operator}`, "content-type": "application/json" },
        body: JSON.stringify({ version: "v2", targets: ["http://127.0.0.1:9"] }),
      });
      await res.body.text();
      assert.equal(res.statusCode, 500, "the deploy could not be written");

      const degraded = await health();
      assert.equal(degraded.status, 503);
      assert.equal(degraded.body.status, "degraded");
      const store = (degraded.body.checks as { store: Record<string, unknown> }).store;
      assert.equal(store.ok, false);
      assert.match(String(store.error), /^SQLITE_BUSY/);
      assert.ok(Number(store.since) >= before - 1 && Number(store.since) <= Date.now());
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }

    // Nothing writes meanwhile: /healthz's own probe (at most once a second) sees it recover.
    const deadline = Date.now() + 5_000;
    let last = await health();
    while (last.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      last = await health();
    }
    assert.equal(last.status, 200, JSON.stringify(last.body));
    assert.equal(last.body.status, "ok");
  });
});
