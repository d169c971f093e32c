import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { TrafficStatus } from "../rollout/convergence.js";
import { openSqliteStore, type SqliteStore } from "../store/sqlite/sqlite-store.js";
import type { Store } from "../store/store.js";
import { ManualClock } from "../util/clock.js";
import { silentLogger } from "../util/log.js";
import { shownFromStore, TrafficStatusPublisher } from "./traffic-status.js";

const applied = (since: number): TrafficStatus => ({
  engine: "haproxy",
  applied: true,
  why: undefined,
  since,
  attempts: 0,
});

describe("the leader's traffic status, recorded for followers", () => {
  let store: SqliteStore;
  let clock: ManualClock;
  let statuses: Map<string, TrafficStatus>;
  let transactions: number;
  let counted: Pick<Store, "transaction">;

  const publisher = (instance = "a") =>
    new TrafficStatusPublisher({
      store: counted,
      statuses: () => statuses,
      instance,
      clock,
      timer: clock,
      everyMs: 1_000,
      log: silentLogger(),
    });

  beforeEach(() => {
    store = openSqliteStore(":memory:");
    clock = new ManualClock(5_000_000);
    statuses = new Map([
      ["web", applied(1)],
      ["cart", applied(2)],
    ]);
    transactions = 0;
    counted = {
      transaction: (fn) => {
        transactions++;
        return store.transaction(fn);
      },
    };
  });
  afterEach(() => store.close());

  it("writes only what changed, and forgets a service the leader no longer holds", async () => {
    const p = publisher();
    await p.sync();
    assert.equal(transactions, 1, "a term's first sync writes every status, in one transaction");
    const first = await store.getTrafficStatus("web");
    assert.deepEqual(first, {
      service: "web",
      status: { engine: "haproxy", applied: true, since: 1, attempts: 0 },
      recordedAt: clock.now(),
      recordedBy: "a",
    });

    clock.advance(1_000);
    await p.sync();
    await p.sync();
    assert.equal(transactions, 1, "nothing changed: nothing written");

    const pending: TrafficStatus = {
      engine: "haproxy",
      applied: false,
      why: "connect ECONNREFUSED",
      since: clock.now(),
      attempts: 1,
    };
    statuses.set("web", pending);
    await p.sync();
    assert.equal(transactions, 2);
    assert.deepEqual((await store.getTrafficStatus("web"))?.status, { ...pending });
    assert.equal((await store.getTrafficStatus("web"))?.recordedAt, clock.now());
    assert.equal(
      (await store.getTrafficStatus("cart"))?.recordedAt,
      first?.recordedAt,
      "an unchanged service is not rewritten",
    );

    statuses.delete("cart");
    await p.sync();
    assert.equal(await store.getTrafficStatus("cart"), undefined);
    await p.stop();
  });

  it("a new term records every status again, under its own name", async () => {
    await publisher("a").sync();
    clock.advance(3_000);
    const next = publisher("b");
    await next.sync();
    for (const name of ["web", "cart"]) {
      const r = await store.getTrafficStatus(name);
      assert.equal(r?.recordedBy, "b");
      assert.equal(r?.recordedAt, clock.now());
    }
  });

  it("syncs on its timer until stopped", async () => {
    const p = publisher();
    p.start();
    clock.advance(0);
    await p.sync();
    assert.equal(transactions, 1);
    statuses.set("web", { ...applied(1), why: "the split is off" });
    clock.advance(1_000);
    await p.sync();
    assert.equal((await store.getTrafficStatus("web"))?.status.why, "the split is off");
    await p.stop();
    statuses.set("web", applied(9));
    clock.advance(5_000);
    assert.equal(transactions, 2, "stopped: nothing more written");
  });

  it("shows a stored status with when and by whom it was recorded", () => {
    const record = {
      service: "web",
      status: { engine: "nginx", applied: false, why: "timeout", since: 10, attempts: 3 },
      recordedAt: 20,
      recordedBy: "b",
    };
    assert.deepEqual(shownFromStore(record), {
      engine: "nginx",
      applied: false,
      why: "timeout",
      since: 10,
      attempts: 3,
      recordedAt: 20,
      recordedBy: "b",
    });
    assert.equal(shownFromStore({ ...record, status: { applied: "yes" } }), undefined);
  });
});
