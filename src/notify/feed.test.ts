import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { RolloutEvent } from "../rollout/types.js";
import { FencedError } from "../store/errors.js";
import { openSqliteStore, type SqliteStore } from "../store/sqlite/sqlite-store.js";
import type { Store } from "../store/store.js";
import { ManualClock } from "../util/clock.js";
import { silentLogger } from "../util/log.js";
import { NotificationFeed } from "./feed.js";

/** What a feed handed to delivery, with the means to end each event's deliveries. */
function recorder() {
  const sent: Array<{ event: RolloutEvent; settle: () => void }> = [];
  return {
    sent,
    send: (event: RolloutEvent, settle: () => void) => {
      sent.push({ event, settle });
    },
    seqs: () => sent.map((s) => s.event.seq),
    settle: (seq: number) => sent.find((s) => s.event.seq === seq)?.settle(),
  };
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined) {
  for (let i = 0; i < 500; i++) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    await sleep(5);
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe("notification feed", () => {
  let store: SqliteStore;
  let clock: ManualClock;
  let leader: Store;
  const feeds: NotificationFeed[] = [];

  const commit = (reason: string) =>
    store.appendEvent({
      rolloutId: null,
      service: "web",
      at: clock.now(),
      type: "weight.set",
      actor: "controller",
      reason,
      phase: null,
      stepIndex: null,
      weight: 10,
      data: {},
    });
  const feed = (rec: ReturnType<typeof recorder>, on: Store = leader, startAfter = 0) => {
    const f = new NotificationFeed({
      store: on,
      send: rec.send,
      startAfter: () => startAfter,
      clock,
      log: silentLogger(),
    });
    feeds.push(f);
    return f;
  };

  beforeEach(async () => {
    store = openSqliteStore(":memory:");
    clock = new ManualClock(1_000_000);
    const lease = await store.acquireLease("controller", "a", 60_000);
    leader = store.fenced({ lease: "controller", holder: "a", epoch: lease?.epoch as number });
  });
  afterEach(async () => {
    for (const f of feeds.splice(0)) await f.stop();
    await store.close();
  });

  it("with no cursor stored, starts after what the instance has seen and stores that", async () => {
    await commit("before");
    const seen = await commit("seen by the tail");
    const rec = recorder();
    const f = feed(rec, leader, seen.seq);
    await f.start();
    assert.equal(await store.getNotifyCursor(), seen.seq);
    const next = await commit("after");
    f.poke();
    await until("the new event", () => rec.sent.length === 1);
    assert.deepEqual(rec.seqs(), [next.seq]);
  });

  it("moves the cursor only past events whose deliveries are all over, in order", async () => {
    await store.putNotifyCursor(0, clock.now());
    const events = [await commit("1"), await commit("2"), await commit("3")];
    const rec = recorder();
    const f = feed(rec);
    await f.start();
    await until("three events handed", () => rec.sent.length === 3);
    assert.deepEqual(
      rec.seqs(),
      events.map((e) => e.seq),
    );
    rec.settle(events[1]!.seq);
    await f.settled();
    assert.equal(await store.getNotifyCursor(), 0, "the first is still in flight");
    rec.settle(events[0]!.seq);
    await until("the cursor past the second", async () =>
      (await store.getNotifyCursor()) === events[1]!.seq ? true : undefined,
    );
    rec.settle(events[2]!.seq);
    await until("the cursor past the third", async () =>
      (await store.getNotifyCursor()) === events[2]!.seq ? true : undefined,
    );
  });

  it("a new leader sends what came after the cursor; what ends after a stop moves nothing", async () => {
    await store.putNotifyCursor(0, clock.now());
    const first = await commit("delivered by the old leader");
    const inFlight = await commit("in flight when it stopped");
    const old = recorder();
    const oldFeed = feed(old);
    await oldFeed.start();
    await until("both handed", () => old.sent.length === 2);
    old.settle(first.seq);
    await until("the cursor past the first", async () =>
      (await store.getNotifyCursor()) === first.seq ? true : undefined,
    );
    await oldFeed.stop();
    old.settle(inFlight.seq); // dropped as its deliverer closed
    await sleep(20);
    assert.equal(await store.getNotifyCursor(), first.seq);

    // Another instance takes the lease and starts from the cursor.
    await store.releaseLease("controller", "a", 1);
    const lease = await store.acquireLease("controller", "b", 60_000);
    const next = store.fenced({ lease: "controller", holder: "b", epoch: lease?.epoch as number });
    const rec = recorder();
    await feed(rec, next).start();
    await until("the event in flight, again", () => rec.sent.length === 1);
    assert.deepEqual(rec.seqs(), [inFlight.seq]);

    // The old leader's fence refuses its cursor.
    await assert.rejects(leader.putNotifyCursor(inFlight.seq + 10, clock.now()), FencedError);
    rec.settle(inFlight.seq);
    await until("the new leader's cursor", async () =>
      (await store.getNotifyCursor()) === inFlight.seq ? true : undefined,
    );
  });

  it("a refused cursor write is retried by the poll, never skipped", async () => {
    await store.putNotifyCursor(0, clock.now());
    let refuse = true;
    const flaky: Store = Object.assign(Object.create(leader) as Store, {
      eventsAfter: leader.eventsAfter,
      getNotifyCursor: leader.getNotifyCursor,
      putNotifyCursor: (seq: number, at: number) =>
        refuse ? Promise.reject(new Error("disk full")) : leader.putNotifyCursor(seq, at),
    });
    const e = await commit("one");
    const rec = recorder();
    const f = feed(rec, flaky);
    await f.start();
    await until("handed", () => rec.sent.length === 1);
    rec.settle(e.seq);
    await f.settled();
    assert.equal(await store.getNotifyCursor(), 0);
    refuse = false;
    clock.advance(1_000);
    await until("the cursor after the poll", async () =>
      (await store.getNotifyCursor()) === e.seq ? true : undefined,
    );
    assert.equal(rec.sent.length, 1, "nothing handed twice");
  });
});
