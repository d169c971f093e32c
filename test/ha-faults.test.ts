/**
 * The faults of issue 14, against real processes: three `aviary serve` instances on one real
 * Postgres, two `aviary router` processes behind a real HAProxy, steady load through HAProxy
 * the whole time, and a rollout progressing. Each fault is checked where a user would see it:
 * the answers the load gets (none may fail), `GET /api/v1/cluster`, the processes' logs, and the
 * history (every transition exactly once, none skipped).
 *
 * The lease is 3 s and the steps pause for a second, so the file takes seconds per fault, not
 * minutes; the processes run on the real clock. One cluster for the whole file (the faults
 * follow one another on it, each with its own rollout).
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type HaCluster, SERVICE, startHaCluster } from "./support/ha-cluster.js";
import { checkHistory, expectedTransitions, readHistory } from "./support/ha-history.js";
import { type Load, type LoadCounts, startLoad } from "./support/ha-load.js";

/**
 * How long Postgres stays down. The issue says 30 s; the figure is kept, since nothing in the
 * cluster scales with it (the leader steps down after one lease either way, the routers serve
 * from memory), and the file stays under three minutes with it.
 */
const POSTGRES_OUTAGE_MS = 30_000;
const LEASE_MS = 3_000;
const TICK_MS = 200;
const STEPS = [
  { setWeight: 10 },
  { pause: { duration: "1s" } },
  { setWeight: 30 },
  { pause: { duration: "1s" } },
  { setWeight: 60 },
  { pause: { duration: "1s" } },
];
const EXPECTED = expectedTransitions(STEPS);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RolloutView {
  id: string;
  phase: string;
  stepIndex: number;
  canary: { version: string };
}

describe("faults against a highly available Aviary", { timeout: 240_000 }, () => {
  let ha: HaCluster;
  let load: Load;

  before(async () => {
    ha = await startHaCluster({ steps: STEPS, leaseMs: LEASE_MS, tick: `${TICK_MS}ms` });
    load = startLoad({ url: ha.front.url, rate: 100 });
  });
  after(async () => {
    await load?.stop();
    await ha?.close();
  });

  async function rollout(): Promise<RolloutView | undefined> {
    const admin = await ha.anyAdmin();
    const res = await ha.api(admin, "GET", `/api/v1/services/${SERVICE}`);
    return (res.json as { rollout?: RolloutView | null }).rollout ?? undefined;
  }

  async function waitRollout(
    ok: (r: RolloutView) => boolean,
    what: string,
    timeoutMs = 60_000,
  ): Promise<RolloutView> {
    const deadline = performance.now() + timeoutMs;
    let last: RolloutView | undefined;
    for (;;) {
      last = await rollout().catch(() => last);
      if (last !== undefined && ok(last)) return last;
      if (last?.phase === "Aborted") assert.fail(`rollout aborted: ${JSON.stringify(last)}`);
      if (performance.now() > deadline)
        assert.fail(
          `${what}: not within ${timeoutMs} ms; last ${JSON.stringify(last)}\n${ha.logs()}`,
        );
      await sleep(100);
    }
  }

  /** Every transition of every rollout so far recorded once, none skipped. */
  async function assertHistoryExact(): Promise<void> {
    const events = await readHistory(await ha.anyAdmin(), ha.token, SERVICE);
    const check = checkHistory(events, EXPECTED);
    assert.ok(check.seqsOrdered, "history seqs out of order");
    assert.equal(check.duplicateTransitions, 0, JSON.stringify(check.rollouts, null, 1));
    assert.equal(check.lostTransitions, 0, JSON.stringify(check.rollouts, null, 1));
    const aborted = check.rollouts.filter((r) => r.aborted !== null);
    assert.deepEqual(aborted, [], "no rollout may be aborted by a fault");
  }

  function assertNoFailures(counts: LoadCounts, what: string): void {
    assert.equal(counts.failed, 0, `${what}: ${JSON.stringify(counts.failures.slice(0, 10))}`);
    assert.ok(counts.ok > 0, `${what}: no answers at all`);
  }

  it("SIGKILL of the leader mid-rollout: a follower leads within the lease, the rollout goes on", async () => {
    const mark = load.counts();
    await waitRollout((r) => r.stepIndex >= 2, "the first rollout reaches its step 3");
    const old = await ha.waitForLeader();
    const killedAt = performance.now();
    await ha.instances[old.index]?.proc.kill();
    const next = await ha.waitForLeader({ not: old.index, pollMs: 25 });
    const takeoverMs = next.seenAt - killedAt;
    // The old lease runs out at most one lease after the kill; a follower tries every ttl/5.
    assert.ok(
      takeoverMs <= LEASE_MS + LEASE_MS / 5 + TICK_MS + 500,
      `takeover took ${Math.round(takeoverMs)} ms`,
    );
    assert.ok((next.view.epoch ?? 0) > (old.view.epoch ?? 0), "the new term has a higher epoch");
    await ha.startInstance(old.index);
    const done = await waitRollout((r) => r.phase === "Healthy", "the rollout is promoted");
    assert.equal(done.canary.version, "v2");
    await assertHistoryExact();
    assertNoFailures(load.since(mark), "during the leader kill");
  });

  it("SIGSTOP of the leader past its lease: another takes over, the old one's writes are refused", async () => {
    const mark = load.counts();
    await ha.deploy("v3");
    await waitRollout(
      (r) => r.canary.version === "v3" && r.stepIndex >= 1,
      "the v3 rollout starts",
    );
    const old = await ha.waitForLeader();
    const proc = ha.instances[old.index]?.proc;
    assert.ok(proc);
    proc.pause();
    const next = await ha.waitForLeader({ not: old.index });
    // The new leader drives for a while before the old one wakes.
    await sleep(2_000);
    proc.resume();
    // It finds out by itself (its own clock, or the fence refusing a write) and steps down.
    const line = await proc.waitFor(
      (l) => l.msg === "stepped down" || /fenc/i.test(String(l.msg ?? "")),
      "its step down",
      10_000,
    );
    assert.ok(line);
    for (let i = 0; i < 50; i++) {
      const v = await ha.view(old.index);
      if (v !== undefined && v.role !== "leader") break;
      assert.ok(i < 49, "the old leader still says it leads");
      await sleep(100);
    }
    const leader = await ha.waitForLeader();
    assert.equal(leader.index, next.index, "leadership moved again after SIGCONT");
    await waitRollout((r) => r.canary.version === "v3" && r.phase === "Healthy", "v3 promoted");
    await assertHistoryExact();
    assertNoFailures(load.since(mark), "during the pause");
  });

  it(`Postgres down for ${POSTGRES_OUTAGE_MS / 1000} s: routers keep serving, the leader stops and says why, all resumes`, async () => {
    await ha.deploy("v4");
    await waitRollout(
      (r) => r.canary.version === "v4" && r.stepIndex >= 1,
      "the v4 rollout starts",
    );
    const before = await waitRollout(() => true, "the v4 rollout");
    const old = await ha.waitForLeader();
    const mark = load.counts();
    await ha.pg.stop({ keepData: true });
    // Within a lease the leader can no longer renew: nobody leads, and each instance says why.
    let why: string | null = null;
    for (let i = 0; ; i++) {
      const views = await Promise.all(ha.instances.map((_, j) => ha.view(j, 3_000)));
      const leading = views.filter((v) => v?.role === "leader");
      const answered = views.filter((v) => v !== undefined);
      if (leading.length === 0 && answered.length > 0) {
        why = answered.map((v) => v?.why ?? "").join(" | ");
        break;
      }
      assert.ok(
        i < 100,
        `still a leader ${2 * LEASE_MS} ms into the outage:\n${JSON.stringify(views)}`,
      );
      await sleep(100);
    }
    assert.match(why ?? "", /database|unreachable|renew/i);
    const oldProc = ha.instances[old.index]?.proc;
    assert.ok(
      oldProc?.lines.some((l) => l.msg === "stepped down"),
      "the leader's log says it stepped down",
    );
    await sleep(POSTGRES_OUTAGE_MS - 2 * LEASE_MS);
    assertNoFailures(load.since(mark), "while Postgres was down");
    await ha.pg.start();
    const back = await ha.waitForLeader({ timeoutMs: 30_000 });
    assert.ok(back);
    const done = await waitRollout(
      (r) => r.canary.version === "v4" && r.phase === "Healthy",
      "v4 promoted after the outage",
    );
    assert.equal(done.id, before.id, "the same rollout went on");
    await assertHistoryExact();
    assertNoFailures(load.since(mark), "across the outage");
  });

  it("a router killed: HAProxy routes around it; restarted with the control plane down, it serves its last state", async () => {
    const mark = load.counts();
    const r1 = ha.routers[0];
    assert.ok(r1);
    // What the routers serve now: no rollout is active, so one version takes everything: the
    // canary of a promoted rollout, the stable of an aborted one.
    const svc = await ha.api(await ha.anyAdmin(), "GET", `/api/v1/services/${SERVICE}`);
    const last = (svc.json as { rollout?: RolloutView & { stable: { version: string } } }).rollout;
    const active = last?.phase;
    const stableNow = active === "Healthy" ? last?.canary.version : last?.stable.version;
    assert.ok(active === "Healthy" || active === "Aborted", `a rollout is still ${active}`);
    await r1.proc.kill();
    await sleep(2_000);
    assertNoFailures(load.since(mark), "with a router killed");
    // Every control-plane instance down, then the router comes back from its disk.
    await Promise.all(ha.instances.map((x) => x.proc.kill()));
    await ha.startRouter(0);
    const answers: Record<string, number> = {};
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`http://${r1.address}/`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(res.status, 200, await res.text());
      const v = res.headers.get("x-upstream") ?? "none";
      answers[v] = (answers[v] ?? 0) + 1;
      await res.arrayBuffer().catch(() => undefined);
    }
    // The last state: the last rollout finished, so its stable version answers everything.
    assert.deepEqual(answers, { [String(stableNow)]: 50 });
    const status = await fetch(`http://127.0.0.1:${r1.statusPort}/status`);
    const body = (await status.json()) as { source?: string };
    assert.equal(body.source, "disk");
    const all = load.since(mark);
    assertNoFailures(all, "with a router killed and the control plane down");
    // Nothing escaped a handler in any instance.
    for (const x of ha.instances)
      assert.ok(
        !x.proc.lines.some((l) => /unhandled rejection|uncaught exception/.test(String(l.msg))),
        `${x.name} logged an unhandled error`,
      );
  });
});
