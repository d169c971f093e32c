/**
 * Three in-process Aviary instances on one real Postgres, over real HTTP: exactly one leads;
 * a follower's command is carried out by the leader and answered exactly as the leader would;
 * a follower's event stream shows every committed event once and in order, across a
 * reconnect; the leader gone without releasing its lease, another takes over and the rollout
 * continues from its step; the old leader's fence refuses its writes.
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { get, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CONTROLLER_LEASE } from "../src/cluster/leadership.js";
import type { RolloutEvent } from "../src/rollout/types.js";
import { Spec } from "../src/spec/schema.js";
import { openPostgresStore } from "../src/store/postgres/postgres-store.js";
import { type PostgresServer, startPostgres } from "../src/store/postgres/process.js";
import { openSqliteStore } from "../src/store/sqlite/sqlite-store.js";
import type { Store } from "../src/store/store.js";
import { apiCaller, type Instance, startInstance, until } from "./cluster-fixtures.js";
import { startUpstream, type Upstream } from "./fixtures.js";

const TOKEN = "cluster-test-operator-token";
const LEASE_MS = 1_000;

const call = apiCaller(TOKEN);

/** A Server-Sent Events reader: every `rollout-event` id and event, as received. */
class Sse {
  readonly events: RolloutEvent[] = [];
  #buffer = "";
  #destroy: () => void = () => {};
  static open(admin: string, headers: Record<string, string> = {}): Promise<Sse> {
    const sse = new Sse();
    return new Promise((resolve, reject) => {
      const req = get(
        `${admin}/api/v1/stream`,
        { headers: { authorization: `Bearer ${TOKEN}`, ...headers }, agent: false },
        (res: IncomingMessage) => {
          assert.equal(res.statusCode, 200);
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => sse.#parse(chunk));
          res.on("error", () => {});
          resolve(sse);
        },
      );
      req.on("error", reject);
      sse.#destroy = () => req.destroy();
    });
  }
  #parse(chunk: string): void {
    this.#buffer += chunk;
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end < 0) return;
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      let event = "";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (event === "rollout-event") this.events.push(JSON.parse(data) as RolloutEvent);
    }
  }
  close(): void {
    this.#destroy();
  }
}

/** Several instances on one store: Postgres (a real server), or one SQLite file (the default store, where a second instance is a follower). */
function onOneStore(kind: "postgres" | "sqlite") {
  describe(`several instances on one ${kind === "postgres" ? "Postgres" : "SQLite file"}`, () => {
    let pg: PostgresServer | undefined;
    let url: string;
    let stable: Upstream;
    let canary: Upstream;
    let dir: string;
    const instances: Instance[] = [];
    const closed = new Set<Instance>();

    const spec = () =>
      Spec.parse({
        listen: "127.0.0.1:0",
        admin: "127.0.0.1:0",
        controller: { tick: "100ms" },
        services: [
          {
            name: "web",
            match: { pathPrefix: "/" },
            stable: { version: "v1", targets: [stable.url] },
            strategy: {
              steps: [
                { setWeight: 10 },
                { pause: { duration: "1s" } },
                { setWeight: 30 },
                { pause: { duration: "1s" } },
                { setWeight: 60 },
                { pause: { duration: "1s" } },
              ],
            },
          },
        ],
      });

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
    const openStore = async (): Promise<Store> =>
      kind === "postgres" ? openPostgresStore(url) : openSqliteStore(join(dir, "shared.db"));
    const leader = () =>
      instances.find((i) => !closed.has(i) && i.aviary.cluster.leadership.isLeader);
    const followers = () =>
      instances.filter((i) => !closed.has(i) && !i.aviary.cluster.leadership.isLeader);

    before(async () => {
      if (kind === "postgres") {
        pg = await startPostgres();
        url = await pg.createDatabase("aviary");
      }
      stable = await startUpstream("v1");
      canary = await startUpstream("v2");
      dir = mkdtempSync(join(tmpdir(), "aviary-cluster-"));
      await start("a");
      await start("b");
      await start("c");
    });

    after(async () => {
      for (const i of instances) if (!closed.has(i)) await i.aviary.close();
      await stable?.close();
      await canary?.close();
      await pg?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("exactly one instance leads, and every instance says which", async () => {
      await until("one leader", () => leader());
      assert.equal(instances.filter((i) => i.aviary.cluster.leadership.isLeader).length, 1);
      const lead = leader() as Instance;
      for (const i of instances) {
        const { status, json } = await call(i, "GET", "/api/v1/cluster");
        assert.equal(status, 200);
        assert.equal(json.instance, i.name);
        assert.equal(json.role, i === lead ? "leader" : "follower");
        assert.equal(json.leader, lead.name);
        assert.equal(json.epoch, lead.aviary.cluster.leadership.epoch);
        assert.ok(typeof json.leaseLeftMs === "number" && json.leaseLeftMs > 0);
        assert.equal(json.why, null);
      }
    });

    it("a follower's commands are carried out by the leader and answered as the leader answers", async () => {
      const lead = leader() as Instance;
      const [f] = followers();
      assert.ok(f);
      // Refusals: the same status and problem from either.
      for (const [method, path, body] of [
        ["POST", "/api/v1/services/nope/deploy", { version: "v9", targets: [canary.url] }],
        ["POST", "/api/v1/services/web/promote", {}],
        ["POST", "/api/v1/services/web/undo", {}],
      ] as const) {
        const fromLeader = await call(lead, method, path, body);
        const fromFollower = await call(f, method, path, body);
        assert.ok(fromLeader.status >= 400, `${path}: ${fromLeader.status}`);
        assert.equal(fromFollower.status, fromLeader.status, path);
        assert.deepEqual(fromFollower.json, fromLeader.json, path);
      }
      // A deploy through the follower: 201 with the rollout the leader started.
      const sse = await Sse.open(f.admin, { "last-event-id": "0" });
      const deployed = await call(f, "POST", "/api/v1/services/web/deploy", {
        version: "v2",
        targets: [canary.url],
      });
      assert.equal(deployed.status, 201, JSON.stringify(deployed.json));
      const rollout = deployed.json.rollout as { id: string; canary: { version: string } };
      assert.equal(rollout.canary.version, "v2");
      const seenByLeader = await call(lead, "GET", "/api/v1/services/web");
      assert.equal((seenByLeader.json.rollout as { id: string }).id, rollout.id);
      // A pause through the follower answers what a pause on the leader answers: the rollout.
      const paused = await call(f, "POST", "/api/v1/services/web/pause", {});
      assert.equal(paused.status, 200, JSON.stringify(paused.json));
      assert.ok((paused.json.rollout as { pausedAt: number | null }).pausedAt !== null);
      const pausedAgainOnLeader = await call(lead, "POST", "/api/v1/services/web/pause", {});
      const pausedAgainOnFollower = await call(f, "POST", "/api/v1/services/web/pause", {});
      assert.equal(pausedAgainOnFollower.status, pausedAgainOnLeader.status);
      const resumed = await call(f, "POST", "/api/v1/services/web/resume", {});
      assert.equal(resumed.status, 200, JSON.stringify(resumed.json));

      // The stream on the follower: the whole history, each once, in order.
      const history = async () => lead.store.eventsAfter(0, 10_000);
      await until("the follower's stream to catch up", async () => {
        const all = await history();
        return sse.events.length >= all.length && all.length > 0;
      });
      const all = await history();
      assert.deepEqual(
        sse.events.map((e) => e.seq),
        all.map((e) => e.seq),
      );
      sse.close();
    });

    it("the leader gone without releasing: another leads, the rollout goes on from its step, the old fence is refused", async () => {
      const old = leader() as Instance;
      const oldEpoch = old.aviary.cluster.leadership.epoch as number;
      const follower = followers()[0] as Instance;
      // A follower's stream, cut mid-rollout and resumed with Last-Event-ID.
      const first = await Sse.open(follower.admin, { "last-event-id": "0" });
      await until("a step past the first", async () => {
        const r = (await call(follower, "GET", "/api/v1/services/web")).json.rollout as {
          stepIndex: number;
        };
        return r.stepIndex >= 2;
      });
      const before = (await call(follower, "GET", "/api/v1/services/web")).json.rollout as {
        stepIndex: number;
        phase: string;
      };
      // Gone as if killed: its controller stops, its lease stays until it expires.
      const goneAt = performance.now();
      closed.add(old);
      await old.aviary.close({ release: false });
      const next = await until("another instance to lead", () => leader());
      const takeoverMs = performance.now() - goneAt;
      console.log(
        `takeover after the leader went: ${Math.round(takeoverMs)} ms (lease ${LEASE_MS} ms)`,
      );
      assert.notEqual(next, old);
      assert.ok((next.aviary.cluster.leadership.epoch as number) > oldEpoch);

      first.close();
      const seen = first.events;
      const lastId = seen.at(-1)?.seq ?? 0;
      const second = await Sse.open(follower.admin, { "last-event-id": String(lastId) });

      const done = await until(
        "the rollout to finish",
        async () => {
          const r = (await call(next, "GET", "/api/v1/services/web")).json.rollout as {
            phase: string;
            stepIndex: number;
          };
          return r.phase === "Healthy" ? r : undefined;
        },
        30_000,
      );
      assert.ok(done.stepIndex >= before.stepIndex, "never went back a step");

      // The old leader's fence: refused, nothing written.
      const count = (await next.store.eventsAfter(0, 10_000)).length;
      // A connection of its own: the old instance closed its store.
      const stale = await openStore();
      await assert.rejects(
        stale
          .fenced({ lease: CONTROLLER_LEASE, holder: old.name, epoch: oldEpoch })
          .transaction(async (tx) => {
            await tx.appendEvent({
              rolloutId: null,
              service: "web",
              at: Date.now(),
              type: "late",
              actor: "controller",
              reason: "a write of a leader that lost the lease",
              phase: null,
              stepIndex: null,
              weight: 0,
              data: {},
            });
          }),
        (err: unknown) => err instanceof Error && err.name === "FencedError",
      );
      await stale.close();
      const history = await next.store.eventsAfter(0, 10_000);
      assert.equal(history.length, count, "the refused write left nothing");

      // Every transition once: no (type, step) of the rollout recorded twice.
      const transitions = history.filter(
        (e) => e.rolloutId !== null && !e.type.startsWith("traffic."),
      );
      const keys = transitions.map(
        (e) => `${e.rolloutId}:${e.type}:${e.stepIndex}:${e.weight}:${e.phase}`,
      );
      assert.equal(new Set(keys).size, keys.length, `a transition twice: ${keys.join("\n")}`);
      assert.ok(history.some((e) => e.type === "promoted" || e.phase === "Healthy"));

      // The stream across the reconnect: every event once, in order, no gap at the seam.
      await until("the second stream to catch up", () =>
        (second.events.at(-1)?.seq ?? 0) >= (history.at(-1)?.seq ?? 0) ? true : undefined,
      );
      const streamed = [...seen, ...second.events].map((e) => e.seq);
      assert.deepEqual(
        streamed,
        history.map((e) => e.seq),
      );
      second.close();
    });
  });
}

onOneStore("postgres");
onOneStore("sqlite");
