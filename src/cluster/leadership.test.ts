import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { openSqliteStore } from "../store/sqlite/sqlite-store.js";
import type { Store } from "../store/store.js";
import { systemClock } from "../util/clock.js";
import { createLogger } from "../util/log.js";
import { isFenced, watchFence } from "./fence.js";
import { CONTROLLER_LEASE, deadOnThisHost, Leadership } from "./leadership.js";

const dir = mkdtempSync(join(tmpdir(), "aviary-lead-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const log = createLogger("silent");

/** Two connections to one fresh SQLite file: two instances of the control plane. */
function twoStores(): [Store, Store] {
  const file = join(dir, `lease-${++files}.db`);
  const a = openSqliteStore(file, { busyTimeoutMs: 2_000 });
  const b = openSqliteStore(file, { busyTimeoutMs: 2_000 });
  return [a, b];
}

/** Bounded polling: resolves once `ok()` holds, fails after `ms`. */
async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Seen {
  leads: number[];
  loses: string[];
  /** Monotonic times of the last onLead and onLose. */
  ledAt: number;
  lostAt: number;
}

function member(
  store: Pick<Store, "acquireLease" | "releaseLease" | "readLease">,
  holder: string,
  ttlMs: number,
) {
  const seen: Seen = { leads: [], loses: [], ledAt: 0, lostAt: 0 };
  const l = new Leadership({
    store,
    holder,
    ttlMs,
    clock: systemClock,
    log,
    onLead: (epoch) => {
      seen.leads.push(epoch);
      seen.ledAt = performance.now();
    },
    onLose: (why) => {
      seen.loses.push(why);
      seen.lostAt = performance.now();
    },
  });
  return { l, seen };
}

/** A store whose lease calls hang from `hang()` on: a database gone quiet, or a paused process. */
function hangable(store: Store) {
  let hung = false;
  const never = new Promise<never>(() => {});
  const wrapped: Pick<Store, "acquireLease" | "releaseLease" | "readLease"> = {
    acquireLease: (n, h, t) => (hung ? never : store.acquireLease(n, h, t)),
    releaseLease: (n, h, e) => (hung ? never : store.releaseLease(n, h, e)),
    readLease: (n) => (hung ? never : store.readLease(n)),
  };
  return { wrapped, hang: () => (hung = true) };
}

describe("leadership", () => {
  it("one of two instances leads; the other sees it, and takes over at once on a clean close", async () => {
    const [sa, sb] = twoStores();
    const a = member(sa, "a", 400);
    const b = member(sb, "b", 400);
    a.l.start();
    await until(() => a.seen.leads.length === 1, 2_000, "a to lead");
    b.l.start();
    await b.l.attempt();
    assert.equal(b.l.isLeader, false);
    const seenByB = await b.l.describe();
    assert.equal(seenByB.role, "follower");
    assert.equal(seenByB.leader, "a");
    assert.equal(seenByB.epoch, a.seen.leads[0]);
    assert.ok((seenByB.leaseLeftMs ?? 0) > 0);
    assert.equal(seenByB.why, null);

    // Several renew periods: a keeps the lead with the same epoch, b never leads.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(a.seen.leads.length, 1);
    assert.equal(b.seen.leads.length, 0);

    await a.l.close();
    assert.equal(a.seen.loses.length, 1);
    await until(() => b.seen.leads.length === 1, 1_000, "b to lead after a released");
    assert.equal(b.seen.leads[0], (a.seen.leads[0] ?? 0) + 1, "a new term, a new epoch");
    await b.l.close();
    const none = await b.l.describe();
    assert.equal(none.leader, null);
    assert.match(none.why ?? "", /lease/);
    await sa.close();
    await sb.close();
  });

  it("a leader that cannot renew steps down by its own clock before another can take over", async () => {
    const [sa, sb] = twoStores();
    const ha = hangable(sa);
    const ttl = 400;
    const a = member(ha.wrapped, "a", ttl);
    const b = member(sb, "b", ttl);
    a.l.start();
    await until(() => a.seen.leads.length === 1, 2_000, "a to lead");
    b.l.start();
    ha.hang();
    await until(() => b.seen.leads.length === 1, 3_000, "b to take over after the lease expired");
    assert.equal(a.seen.loses.length, 1, "a stepped down");
    assert.match(a.seen.loses[0] ?? "", /not renewed within/);
    assert.ok(a.seen.lostAt < b.seen.ledAt, "a stepped down before b took the lead");
    assert.equal(a.l.isLeader, false);
    assert.equal(a.l.state().role, "follower");

    // a's fence is stale: a write under its epoch is refused, and told to leadership.
    const fencedOut: unknown[] = [];
    const stale = watchFence(
      sa.fenced({ lease: CONTROLLER_LEASE, holder: "a", epoch: a.seen.leads[0] as number }),
      (err) => fencedOut.push(err),
    );
    await assert.rejects(
      stale.putCommand({
        id: "late",
        kind: "abort",
        service: "web",
        args: {},
        actor: "test",
        createdAt: 1,
      }),
      (err: unknown) => isFenced(err),
    );
    assert.equal(fencedOut.length, 1);
    assert.equal(await sb.getCommand("late"), undefined, "nothing was written");
    await b.l.close();
    await a.l.close({ release: false });
    await sa.close();
    await sb.close();
  });

  it("stepping down on a fenced write ends the term once; the next term has a new epoch", async () => {
    const [sa] = twoStores();
    const a = member(sa, "a", 400);
    a.l.start();
    await until(() => a.seen.leads.length === 1, 2_000, "a to lead");
    a.l.stepDown("a write was refused by the fence");
    a.l.stepDown("again");
    assert.deepEqual(a.seen.loses, ["a write was refused by the fence"]);
    await until(() => a.seen.leads.length === 2, 2_000, "a to lead again");
    assert.ok((a.seen.leads[1] ?? 0) > (a.seen.leads[0] ?? 0), "never the lost epoch again");
    await a.l.close();
    await sa.close();
  });

  it("a lease held by a process of this machine that is gone is taken over at once (a restart after a crash)", async () => {
    const [sa, sb] = twoStores();
    // A process that ran and exited: its pid no longer runs.
    const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
      encoding: "utf8",
    });
    const dead = `${hostname()}-${child.stdout}-beef`;
    assert.equal(deadOnThisHost(dead), true);
    assert.equal(deadOnThisHost(`${hostname()}-${process.pid}-beef`), false, "this process");
    assert.equal(deadOnThisHost(`elsewhere-${child.stdout}-beef`), false, "another machine");
    assert.equal(deadOnThisHost("ops-node-1"), false, "a name given with --instance");
    const held = await sa.acquireLease(CONTROLLER_LEASE, dead, 60_000);
    assert.ok(held);
    const b = member(sb, `${hostname()}-${process.pid}-cafe`, 400);
    await b.l.start();
    assert.equal(b.l.isLeader, true, "no wait for the dead holder's minute");
    assert.ok((b.seen.leads[0] ?? 0) > held.epoch);
    await b.l.close();
    await sa.close();
    await sb.close();
  });
});
