import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import postgres from "postgres";
import { runStoreConformance } from "../conformance.js";
import { anEvent, aService } from "../conformance-fixtures.js";
import { FencedError, SchemaTooNewError } from "../errors.js";
import type { ChangeKind, Store } from "../store.js";
import { StoreUnavailableError } from "./errors.js";
import { SCHEMA_VERSION } from "./migrations.js";
import { openPostgresStore } from "./postgres-store.js";
import { type PostgresServer, startPostgres } from "./process.js";

// One server for the file; every case gets a database of its own.
let pg: PostgresServer;
before(async () => {
  pg = await startPostgres();
});
after(async () => {
  await pg?.stop();
});

let databases = 0;
const freshDatabase = () => pg.createDatabase(`case_${++databases}`);

runStoreConformance("postgres", async () => {
  const url = await freshDatabase();
  return { store: await openPostgresStore(url), twin: () => openPostgresStore(url) };
});

/** Polls `probe` until it returns a value (bounded: 10 s), for things that happen by time. */
async function until<T>(probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail("the awaited state never came (10 s)");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Opens stores and closes them after the case. */
async function withStores(
  url: string,
  count: number,
  body: (...stores: Store[]) => Promise<void>,
): Promise<void> {
  const stores = await Promise.all(Array.from({ length: count }, () => openPostgresStore(url)));
  try {
    await body(...stores);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
}

describe("postgres store: two instances on one database", () => {
  it("a takeover waits for the old leader's fenced transaction in flight, then fences it", async () => {
    await withStores(await freshDatabase(), 2, async (a, b) => {
      const lease = await a.acquireLease("controller", "i-a", 300);
      assert.ok(lease);
      const leader = a.fenced({ lease: "controller", holder: "i-a", epoch: lease.epoch });
      let finish!: () => void;
      const held = new Promise<void>((resolve) => {
        finish = resolve;
      });
      let began!: () => void;
      const begun = new Promise<void>((resolve) => {
        began = resolve;
      });
      const inFlight = leader.transaction(async (tx) => {
        await tx.appendEvent(anEvent({ type: "in-flight" }));
        began();
        await held;
      });
      await begun;
      // Wait (on the database clock) until the lease has expired, then try to take it.
      await until(async () => {
        const l = await b.readLease("controller");
        return l !== undefined && l.expiresAt <= l.now ? true : undefined;
      });
      let taken: number | undefined;
      const takeover = b.acquireLease("controller", "i-b", 60_000).then((l) => {
        taken = l?.epoch;
        return l;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(taken, undefined, "the takeover waits for the fenced transaction's row lock");
      finish();
      await inFlight;
      assert.equal((await takeover)?.epoch, lease.epoch + 1);
      assert.deepEqual(
        (await b.eventsAfter(0)).map((e) => e.type),
        ["in-flight"],
        "the old leader's transaction, begun while it held the lease, committed",
      );
      await assert.rejects(leader.appendEvent(anEvent({ type: "late" })), FencedError);
      assert.equal((await b.eventsAfter(0)).length, 1);
    });
  });

  it("a leader frozen inside a fenced transaction holds the lease row only until the server's idle timeout", async () => {
    const url = await freshDatabase();
    const a = await openPostgresStore(url, { idleInTransactionTimeoutMs: 400 });
    const b = await openPostgresStore(url);
    try {
      const lease = await a.acquireLease("controller", "i-a", 300);
      assert.ok(lease);
      const leader = a.fenced({ lease: "controller", holder: "i-a", epoch: lease.epoch });
      let thaw!: () => void;
      const frozen = new Promise<void>((resolve) => {
        thaw = resolve;
      });
      let began!: () => void;
      const begun = new Promise<void>((resolve) => {
        began = resolve;
      });
      // The leader sends nothing more inside its transaction, as a SIGSTOPped process would.
      const inFlight = leader
        .transaction(async (tx) => {
          await tx.appendEvent(anEvent({ type: "frozen" }));
          began();
          await frozen;
          await tx.appendEvent(anEvent({ type: "after-thaw" }));
        })
        .then(
          () => "committed",
          (e: unknown) => e,
        );
      await begun;
      const taken = await b.acquireLease("controller", "i-b", 60_000).then(async (l) => {
        if (l === undefined) {
          // Not yet expired on the database's clock: the lock was free; try once it has.
          await until(async () => {
            const r = await b.readLease("controller");
            return r !== undefined && r.expiresAt <= r.now ? true : undefined;
          });
          return b.acquireLease("controller", "i-b", 60_000);
        }
        return l;
      });
      assert.equal(taken?.epoch, lease.epoch + 1);
      // Without the server's timeout the takeover waits on the row lock until the store's own
      // deadline (5 s) and rejects with StoreUnavailableError: the leader is still frozen here.
      // Thaw once the server has ended the frozen session: the leader's transaction then goes on
      // over a closed connection, where the client must not be given a COMMIT or ROLLBACK to
      // send (it would throw from a timer and end the process; see `abandoned` in the store).
      const raw = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await until(async () => {
          const [row] = await raw<[{ n: number }]>`
            SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND state LIKE 'idle in transaction%'`;
          return row?.n === 0 ? true : undefined;
        });
      } finally {
        await raw.end({ timeout: 1 });
      }
      thaw();
      await new Promise((resolve) => setTimeout(resolve, 50)); // the client's deferred writes
      const outcome = await inFlight;
      assert.notEqual(outcome, "committed", "the frozen transaction was ended by the server");
      assert.deepEqual(await b.eventsAfter(0), [], "nothing of it committed");
      await assert.rejects(leader.appendEvent(anEvent({ type: "late" })), FencedError);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("NOTIFY wakes the other store with the kind written, once per kind and transaction", async () => {
    await withStores(await freshDatabase(), 2, async (a, b) => {
      const seen: ChangeKind[] = [];
      const off = a.onChange((what) => seen.push(what));
      // The first (re)listen calls every kind (catch-up); wait for it, then start afresh.
      await until(async () => (seen.length >= 4 ? true : undefined));
      seen.length = 0;
      await b.transaction(async (tx) => {
        await tx.appendEvent(anEvent());
        await tx.appendEvent(anEvent());
        await tx.putCommand({
          id: "c-1",
          kind: "pause",
          service: "checkout",
          args: {},
          actor: "operator:ann",
          createdAt: 1,
        });
      });
      await until(async () =>
        seen.includes("events") && seen.includes("commands") ? true : undefined,
      );
      assert.equal(seen.filter((k) => k === "events").length, 1);
      off();
    });
  });

  it("sequence numbers commit in order: a tailer never skips a row committed later", async () => {
    await withStores(await freshDatabase(), 3, async (a, b, reader) => {
      // Two writers append concurrently; the reader tails and must see every seq in order.
      const writes = (store: Store, tag: string) =>
        (async () => {
          for (let i = 0; i < 40; i++) {
            await store.transaction(async (tx) => {
              await tx.appendEvent(anEvent({ type: `${tag}-${i}` }));
              await new Promise((resolve) => setImmediate(resolve));
              await tx.appendEvent(anEvent({ type: `${tag}-${i}b` }));
            });
          }
        })();
      const seen: number[] = [];
      let done = false;
      const tail = (async () => {
        let last = 0;
        while (!done) {
          for (const e of await reader.eventsAfter(last)) {
            seen.push(e.seq);
            last = e.seq;
          }
        }
        for (const e of await reader.eventsAfter(last)) seen.push(e.seq);
      })();
      await Promise.all([writes(a, "a"), writes(b, "b")]);
      done = true;
      await tail;
      const all = (await reader.eventsAfter(0)).map((e) => e.seq);
      assert.equal(all.length, 160);
      assert.deepEqual(seen, all, "the tail saw every committed event, in seq order");
    });
  });
});

describe("postgres store: migrations", () => {
  it("refuses a database with a newer schema and changes nothing", async () => {
    const url = await freshDatabase();
    await (await openPostgresStore(url)).close();
    const raw = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await raw`INSERT INTO schema_migrations (version, name, applied_at)
        VALUES (${SCHEMA_VERSION + 1}, 'from-the-future', 0)`;
      await assert.rejects(openPostgresStore(url), (err: unknown) => {
        assert.ok(err instanceof SchemaTooNewError, String(err));
        assert.equal(err.found, SCHEMA_VERSION + 1);
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${pg.port}/case_`));
        return true;
      });
      const [row] = await raw`SELECT count(*)::int AS n FROM schema_migrations`;
      assert.equal(row?.n, SCHEMA_VERSION + 1);
    } finally {
      await raw.end({ timeout: 1 });
    }
  });

  it("stores opening a fresh database at once apply each migration once", async () => {
    const url = await freshDatabase();
    await withStores(url, 4, async (...stores) => {
      await stores[0]?.putService(aService());
      for (const s of stores) assert.deepEqual(await s.getService("checkout"), aService());
    });
    const raw = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const rows = await raw`SELECT version FROM schema_migrations ORDER BY version`;
      assert.deepEqual(
        rows.map((r) => r.version),
        Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
      );
    } finally {
      await raw.end({ timeout: 1 });
    }
  });
});

describe("postgres store: the server goes away", () => {
  it("fails with a clear error while Postgres is down, works again when it is back", async () => {
    await freshDatabase();
    // A password in the URL (trust ignores it) must never appear in an error.
    const url = pg.urlOf(`case_${databases}`).replace("postgres@", "postgres:s3cret-pw@");
    const store = await openPostgresStore(url, { connectTimeoutS: 2 });
    try {
      await store.putService(aService());
      await pg.stop({ keepData: true });
      const err = await store.appendEvent(anEvent()).then(
        () => assert.fail("a write with the server down succeeded"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof StoreUnavailableError, String(err));
      const down = store.health();
      assert.equal(down.ok, false, "health says the database does not answer");
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${pg.port}/case_`));
      assert.doesNotMatch(err.message, /s3cret/);
      assert.doesNotMatch(err.message, /s3cret/, String((err as Error).cause));
      await assert.rejects(store.getService("checkout"), StoreUnavailableError);
      await pg.start();
      const event = await until(() => store.appendEvent(anEvent()).catch(() => undefined));
      assert.equal(event.seq >= 1, true);
      assert.deepEqual(await store.getService("checkout"), aService(), "the data survived");
      assert.deepEqual(store.health(), { ok: true });
    } finally {
      await store.close();
    }
  });

  it("a frozen server (SIGSTOP): calls fail at the deadline naming the operation; the same store works after it resumes", {
    timeout: 60_000,
  }, async () => {
    const url = await freshDatabase();
    const store = await openPostgresStore(url, { queryTimeoutMs: 500, connectTimeoutS: 2 });
    try {
      await store.putService(aService());
      pg.pause();
      let read: unknown;
      let write: unknown;
      try {
        // The read holds the connection and hangs; the write waits behind it in the queue.
        const pending = [
          store.getService("checkout").then(
            () => assert.fail("a read from a frozen server answered"),
            (e: unknown) => e,
          ),
          store.appendEvent(anEvent({ type: "while-frozen" })).then(
            () => assert.fail("a write to a frozen server answered"),
            (e: unknown) => e,
          ),
        ];
        [read, write] = await Promise.all(pending);
        // A call made after the timeout, on the new pool, fails the same way.
        await assert.rejects(store.listServices(), (e: unknown) => {
          assert.ok(e instanceof StoreUnavailableError, String(e));
          assert.match(e.message, /\(listServices\)/);
          return true;
        });
        assert.equal(store.health().ok, false, "health says the database does not answer");
      } finally {
        pg.resume();
      }
      assert.ok(read instanceof StoreUnavailableError, String(read));
      assert.equal(read.operation, "getService");
      assert.match(read.message, new RegExp(`127\\.0\\.0\\.1:${pg.port}/case_.*\\(getService\\)`));
      assert.ok(write instanceof StoreUnavailableError, String(write));
      assert.equal(write.operation, "appendEvent");
      assert.match(write.message, /not sent: .*nothing was written/, "it failed in the queue");
      // The same store, not reopened, answers again.
      const back = await until(() => store.getService("checkout").catch(() => undefined));
      assert.deepEqual(back, aService());
      await store.appendEvent(anEvent({ type: "after" }));
      assert.deepEqual(
        (await store.eventsAfter(0)).map((e) => e.type),
        ["after"],
        "the write that timed out in the queue never ran",
      );
      assert.deepEqual(store.health(), { ok: true });
    } finally {
      await store.close();
    }
  });

  it("keeps every committed write through a SIGKILL of the server (fsync on), and listens again", async () => {
    const url = await freshDatabase();
    const store = await openPostgresStore(url, { connectTimeoutS: 2 });
    try {
      let wakeUps = 0;
      const off = store.onChange((what) => {
        if (what === "reports") wakeUps++;
      });
      // The first LISTEN calls subscribers for every kind.
      await until(async () => (wakeUps === 1 ? true : undefined));
      for (let i = 0; i < 20; i++) await store.appendEvent(anEvent({ type: `e${i}` }));
      await pg.kill();
      await pg.start();
      const events = await until(() => store.eventsAfter(0).catch(() => undefined));
      assert.equal(events.length, 20);
      // Wake-ups sent while the LISTEN connection was down are lost: the re-LISTEN calls every
      // kind again (nobody wrote a report), so subscribers catch up by reading.
      await until(async () => (wakeUps >= 2 ? true : undefined));
      off();
    } finally {
      await store.close();
    }
  });
});
