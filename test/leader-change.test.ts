/**
 * What followers and a change of leader used to lose, on one real Postgres and on one SQLite
 * file, over real HTTP:
 * - a follower shows the data plane's status as the leader recorded it (not `null`);
 * - a webhook the leader had in flight or had not sent yet when it went away (its lease left
 *   to expire) is sent by the next leader, from the notification cursor in the store: the
 *   receiver gets every event, one already delivered is not sent again, and one sent again
 *   carries the same delivery id.
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SIGNATURE_HEADER, verifySignature } from "../src/notify/signature.js";
import { Spec } from "../src/spec/schema.js";
import { openPostgresStore } from "../src/store/postgres/postgres-store.js";
import { type PostgresServer, startPostgres } from "../src/store/postgres/process.js";
import { openSqliteStore } from "../src/store/sqlite/sqlite-store.js";
import type { Store } from "../src/store/store.js";
import { apiCaller, type Instance, startInstance, until } from "./cluster-fixtures.js";
import { startUpstream, type Upstream } from "./fixtures.js";

const TOKEN = "leader-change-test-operator-token";
const HOOK_KEY = "whsec_leader-change-test";
const LEASE_MS = 1_000;

interface Hook {
  headers: IncomingHttpHeaders;
  body: string;
  json: { id: string; seq: number; event: string; reason: string };
}

const call = apiCaller(TOKEN);

function onOneStore(kind: "postgres" | "sqlite") {
  describe(`a change of leader on one ${kind === "postgres" ? "Postgres" : "SQLite file"}`, () => {
    let pg: PostgresServer | undefined;
    let url: string;
    let stable: Upstream;
    let canary: Upstream;
    let receiver: Upstream;
    let dir: string;
    const instances: Instance[] = [];
    const closed = new Set<Instance>();
    /** Every webhook the receiver got, in arrival order. */
    const hooks: Hook[] = [];
    /** While set, the receiver keeps each request open without answering (the leader's in flight). */
    let hold = false;
    const held: ServerResponse[] = [];

    const spec = () =>
      Spec.parse({
        listen: "127.0.0.1:0",
        admin: "127.0.0.1:0",
        controller: { tick: "100ms" },
        notifications: [
          {
            name: "team",
            url: `${receiver.url}/hook`,
            events: ["rollout.started", "paused", "aborted"],
            secret: { env: "AVIARY_TEST_HOOK_KEY" },
          },
        ],
        services: [
          {
            name: "web",
            match: { pathPrefix: "/" },
            stable: { version: "v1", targets: [stable.url] },
            strategy: { steps: [{ setWeight: 10 }, { pause: { duration: "1h" } }] },
          },
        ],
      });

    const openStore = async (): Promise<Store> =>
      kind === "postgres" ? openPostgresStore(url) : openSqliteStore(join(dir, "shared.db"));

    const start = async (name: string): Promise<Instance> => {
      const store = await openStore();
      const inst = await startInstance(name, {
        spec: spec(),
        store,
        dir,
        token: TOKEN,
        leaseMs: LEASE_MS,
      });
      instances.push(inst);
      return inst;
    };
    const leader = () =>
      instances.find((i) => !closed.has(i) && i.aviary.cluster.leadership.isLeader);
    const followers = () =>
      instances.filter((i) => !closed.has(i) && !i.aviary.cluster.leadership.isLeader);
    const dataplane = async (i: Instance) =>
      (await call(i, "GET", "/api/v1/services/web")).json.dataplane as Record<
        string,
        unknown
      > | null;

    before(async () => {
      process.env.AVIARY_TEST_HOOK_KEY = HOOK_KEY;
      if (kind === "postgres") {
        pg = await startPostgres();
        url = await pg.createDatabase("aviary");
      }
      stable = await startUpstream("v1");
      canary = await startUpstream("v2");
      receiver = await startUpstream("receiver", (req, res, body) => {
        const text = body.toString("utf8");
        hooks.push({ headers: req.headers, body: text, json: JSON.parse(text) });
        if (hold) held.push(res);
        else res.writeHead(200).end("ok");
      });
      dir = mkdtempSync(join(tmpdir(), "aviary-leader-change-"));
      await start("a");
      await until("a leader", () => leader());
      await start("b");
    });

    after(async () => {
      for (const res of held) res.writeHead(200).end("late");
      for (const i of instances) if (!closed.has(i)) await i.aviary.close();
      await stable?.close();
      await canary?.close();
      await receiver?.close();
      await pg?.stop();
      delete process.env.AVIARY_TEST_HOOK_KEY;
      rmSync(dir, { recursive: true, force: true });
    });

    it("a follower shows the data plane's status as the leader recorded it", async () => {
      const lead = leader() as Instance;
      const follower = followers()[0] as Instance;
      const live = await dataplane(lead);
      assert.equal(live?.engine, "embedded");
      assert.equal(live?.applied, true);
      assert.equal(live?.recordedAt, null, "the leader answers live");
      assert.equal(live?.recordedBy, lead.name);
      const shown = await until("the follower's status", async () => {
        const d = await dataplane(follower);
        return d === null ? undefined : d;
      });
      assert.equal(shown.engine, "embedded");
      assert.equal(shown.applied, true);
      assert.equal(shown.recordedBy, lead.name);
      assert.equal(typeof shown.recordedAt, "number");
      assert.equal(shown.since, live?.since);
    });

    it("webhooks the leader had in flight or not sent yet are sent by the next leader, once per delivery id", async () => {
      const old = leader() as Instance;
      const deployed = await call(old, "POST", "/api/v1/services/web/deploy", {
        version: "v2",
        targets: [canary.url],
      });
      assert.equal(deployed.status, 201, JSON.stringify(deployed.json));
      const started = await until("rollout.started at the receiver", () =>
        hooks.find((h) => h.json.event === "rollout.started"),
      );
      // Delivered, and the cursor past it: the next leader must not send it again.
      await until("the cursor past rollout.started", async () =>
        ((await old.store.getNotifyCursor()) ?? 0) >= started.json.seq ? true : undefined,
      );

      // The receiver stops answering: the pause's webhook stays in flight, the abort's waits
      // behind it in the queue. Then the leader goes, as if killed: its lease left to expire.
      hold = true;
      assert.equal((await call(old, "POST", "/api/v1/services/web/pause", {})).status, 200);
      const paused = await until("the pause in flight", () =>
        hooks.find((h) => h.json.event === "paused"),
      );
      const aborted = await call(old, "POST", "/api/v1/services/web/abort", {});
      assert.equal(aborted.status, 200, JSON.stringify(aborted.json));
      // New requests are answered again (the old leader's queue stays stuck behind the held
      // one), so the next leader's are never held.
      hold = false;
      closed.add(old);
      await old.aviary.close({ release: false });

      const next = await until("another leader", () => leader());
      assert.notEqual(next, old);
      const abortedHook = await until("the abort from the new leader", () =>
        hooks.find((h) => h.json.event === "aborted"),
      );
      const pausedAgain = await until("the pause sent again", () =>
        hooks.filter((h) => h.json.event === "paused").length >= 2 ? true : undefined,
      );
      assert.ok(pausedAgain);
      for (const res of held.splice(0)) res.writeHead(200).end("the answer that was lost");
      await until("the new leader's cursor past the abort", async () =>
        ((await next.store.getNotifyCursor()) ?? 0) >= abortedHook.json.seq ? true : undefined,
      );

      // Every wanted event of the history reached the receiver; each seq under one delivery id.
      const wanted = (await next.store.eventsAfter(0, 10_000)).filter((e) =>
        ["rollout.started", "paused", "aborted"].includes(e.type),
      );
      assert.deepEqual(
        [...new Set(hooks.map((h) => h.json.seq))].sort((x, y) => x - y),
        wanted.map((e) => e.seq),
      );
      const bySeq = new Map<number, Hook[]>();
      for (const h of hooks) bySeq.set(h.json.seq, [...(bySeq.get(h.json.seq) ?? []), h]);
      assert.equal(bySeq.get(started.json.seq)?.length, 1, "delivered before: not sent again");
      assert.equal(bySeq.get(abortedHook.json.seq)?.length, 1, "never sent by the old leader");
      const pausedHooks = bySeq.get(paused.json.seq) ?? [];
      assert.equal(pausedHooks.length, 2, "in flight when the leader went: sent again");
      for (const [seq, same] of bySeq) {
        const ids = new Set(same.map((h) => h.headers["x-aviary-delivery"]));
        assert.equal(ids.size, 1, `seq ${seq} under one delivery id`);
        assert.equal([...ids][0], same[0]?.json.id);
      }
      const ids = new Set(hooks.map((h) => h.headers["x-aviary-delivery"]));
      assert.equal(ids.size, bySeq.size, "one delivery id per event");
      for (const h of hooks) {
        assert.deepEqual(
          verifySignature(HOOK_KEY, h.headers[SIGNATURE_HEADER] as string, h.body, Date.now()),
          { ok: true },
        );
      }

      // A follower of the new term shows the new leader's record.
      const c = await start("c");
      const shown = await until("c's status from the new leader", async () => {
        const d = await dataplane(c);
        return d?.recordedBy === next.name ? d : undefined;
      });
      assert.equal(shown.engine, "embedded");
    });
  });
}

onOneStore("postgres");
onOneStore("sqlite");
