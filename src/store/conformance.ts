/**
 * What every Store must do, as `node:test` cases any implementation runs against itself:
 *
 * ```ts
 * runStoreConformance("sqlite file", () => {
 *   const file = join(dir, `${n++}.db`);
 *   return { store: openSqliteStore(file), twin: () => openSqliteStore(file) };
 * });
 * ```
 *
 * `open` must return a fresh, empty store each call (and, where it can, a `twin` opener of a
 * second store on the same database); each case closes the stores it opened.
 * Orders the interface leaves open are pinned here (services by name, versions by first
 * deployment, analysis runs by start), so callers see the same order whatever the database.
 *
 * @module
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AviaryError } from "../errors.js";
import type { RolloutPhase } from "../rollout/types.js";
import {
  aCommand,
  aMeasurement,
  anEvent,
  aReport,
  aRollout,
  aRun,
  aService,
  aServiceEvent,
  PLAIN_TRAFFIC,
  RICH_TRAFFIC,
  SPEC,
  T0,
  V2,
  withSeq,
} from "./conformance-fixtures.js";
import { CommandCommitError, FencedError, StaleWriteError } from "./errors.js";
import type { CommandOutcome, Store, StoreTx } from "./store.js";

/** What a conformance factory opens: a fresh, empty store, and a way to open it again. */
export interface OpenedStore {
  store: Store;
  /**
   * Opens a second store on the same database (another instance of the control plane), for the
   * cases about leases, fences and change notifications. Absent where the database cannot be
   * shared (SQLite `:memory:`): register that store with `{ twoInstances: false }`.
   */
  twin?: () => Store | Promise<Store>;
}

/** Registers the conformance cases for one Store implementation under `describe(name)`. */
export function runStoreConformance(
  name: string,
  open: () => OpenedStore | Promise<OpenedStore>,
  /**
   * `twoInstances: false` for a database only one store can open (SQLite `:memory:`): the
   * two-instance cases are left out of its suite (its title says so); they run on the others.
   */
  opts: { twoInstances?: boolean } = {},
): void {
  const twoInstances = opts.twoInstances ?? true;
  /** A case with its own fresh store, closed afterwards whatever happens. */
  const test = (title: string, body: (store: Store) => void | Promise<void>) =>
    it(title, async () => {
      const { store } = await open();
      try {
        await body(store);
      } finally {
        await store.close();
      }
    });

  /** A case with two stores on one fresh database; not registered where there cannot be two. */
  const test2 = (title: string, body: (a: Store, b: Store) => void | Promise<void>) => {
    if (!twoInstances) return;
    it(title, async () => {
      const { store, twin } = await open();
      try {
        assert.ok(twin, "this store declares two instances but gives no twin() to open one");
        const other = await twin();
        try {
          await body(store, other);
        } finally {
          await other.close();
        }
      } finally {
        await store.close();
      }
    });
  };

  const title = twoInstances
    ? name
    : `${name} (one instance only: the two-instance cases run on the others)`;
  describe(`Store conformance: ${title}`, () => {
    describe("services", () => {
      test("round-trips a service with nulls, then with every nested field set", async (store) => {
        assert.equal(await store.getService("checkout"), undefined);
        const plain = aService();
        await store.putService(plain);
        assert.deepEqual(await store.getService("checkout"), plain);

        const rich = aService({
          traffic: RICH_TRAFFIC,
          rolloutId: "r-0001",
          previousStable: V2,
          updatedAt: T0 + 1,
          revision: 2,
        });
        await store.putService(rich);
        assert.deepEqual(await store.getService("checkout"), rich);
      });

      test("lists services by name", async (store) => {
        for (const name of ["search", "checkout", "cart"])
          await store.putService(aService({ name }));
        assert.deepEqual(
          (await store.listServices()).map((s) => s.name),
          ["cart", "checkout", "search"],
        );
      });

      test("deletes a service's state and keeps its rollouts, history and versions", async (store) => {
        await store.putService(aService({ rolloutId: "r-0001" }));
        await store.putService(aService({ name: "cart" }));
        await store.appendEvent(anEvent());
        await store.recordVersion("checkout", "v1", ["http://127.0.0.1:9001"], T0);
        await store.transaction(async (tx) => await tx.deleteService("checkout"));
        assert.equal(await store.getService("checkout"), undefined);
        assert.deepEqual(
          (await store.listServices()).map((s) => s.name),
          ["cart"],
        );
        assert.equal((await store.eventsOf("checkout")).length, 1, "the history stays");
        assert.equal((await store.versionsOf("checkout")).length, 1, "the versions stay");
        await store.deleteService("checkout"); // deleting what is gone changes nothing
        await store.putService(aService());
        assert.deepEqual(await store.getService("checkout"), aService(), "and it can come back");
      });

      test("returns copies: mutating a record read or written does not change the store", async (store) => {
        const written = aService({ traffic: structuredClone(RICH_TRAFFIC) });
        await store.putService(written);
        written.traffic.headerRoutes.pop();
        const read = (await store.getService("checkout"))!;
        read.traffic.weight = 99;
        assert.deepEqual(await store.getService("checkout"), aService({ traffic: RICH_TRAFFIC }));
      });
    });

    describe("rollouts", () => {
      test("round-trips a rollout with nulls, then with them set", async (store) => {
        assert.equal(await store.getRollout("r-0001"), undefined);
        const first = aRollout();
        await store.putRollout(first);
        assert.deepEqual(await store.getRollout(first.id), first);

        const finished = aRollout({
          phase: "Aborted",
          pausedAt: T0 + 5,
          finishedAt: T0 + 9,
          traffic: PLAIN_TRAFFIC,
          strategy: [],
          updatedAt: T0 + 9,
          revision: 2,
        });
        await store.putRollout(finished);
        assert.deepEqual(await store.getRollout(first.id), finished);
      });

      test("accepts each revision only right after the stored one", async (store) => {
        await assert.rejects(
          async () => await store.putRollout(aRollout({ revision: 2 })),
          StaleWriteError,
        );
        assert.equal(await store.getRollout("r-0001"), undefined, "a new rollout needs revision 1");
        await store.putRollout(aRollout({ revision: 1 }));
        await store.putRollout(aRollout({ revision: 2, reason: "two" }));
        await store.putRollout(aRollout({ revision: 3, reason: "three" }));
        assert.equal((await store.getRollout("r-0001"))?.revision, 3);
      });

      test("refuses a stale write with StaleWriteError and writes nothing", async (store) => {
        await store.putRollout(aRollout({ revision: 1 }));
        await store.putRollout(aRollout({ revision: 2, reason: "kept" }));
        const stored = await store.getRollout("r-0001");
        for (const revision of [1, 2, 4]) {
          const err = await catchError(
            async () => await store.putRollout(aRollout({ revision, reason: `lost ${revision}` })),
          );
          assert.ok(err instanceof StaleWriteError, `revision ${revision}: ${err}`);
          assert.ok(err instanceof AviaryError);
          assert.equal(err.code, "AVIARY_STORE_STALE_WRITE");
          assert.equal(err.id, "r-0001");
          assert.equal(err.revision, revision);
          assert.equal(err.storedRevision, 2);
          assert.match(err.message, /r-0001/);
        }
        assert.deepEqual(await store.getRollout("r-0001"), stored);
      });

      test("lists active rollouts (not Healthy or Aborted) oldest first", async (store) => {
        const phases: Array<[string, RolloutPhase, number]> = [
          ["r-c", "Paused", T0 + 30],
          ["r-a", "Healthy", T0 + 10],
          ["r-d", "Analyzing", T0 + 5],
          ["r-b", "Aborted", T0 + 1],
          ["r-e", "Progressing", T0 + 20],
          ["r-f", "Promoting", T0 + 40],
        ];
        for (const [id, phase, createdAt] of phases) {
          await store.putRollout(aRollout({ id, phase, createdAt, service: id }));
        }
        assert.deepEqual(
          (await store.activeRollouts()).map((r) => r.id),
          ["r-d", "r-e", "r-c", "r-f"],
        );
        await store.putRollout(
          aRollout({ id: "r-e", phase: "Healthy", createdAt: T0 + 20, revision: 2 }),
        );
        assert.deepEqual(
          (await store.activeRollouts()).map((r) => r.id),
          ["r-d", "r-c", "r-f"],
        );
        assert.deepEqual(
          (await store.activeRollouts())[0],
          aRollout({ id: "r-d", phase: "Analyzing", createdAt: T0 + 5, service: "r-d" }),
        );
      });

      test("lists a service's rollouts newest first, at most limit", async (store) => {
        for (const [id, createdAt, service] of [
          ["r-1", T0 + 1, "checkout"],
          ["r-3", T0 + 3, "checkout"],
          ["r-x", T0 + 4, "search"],
          ["r-2", T0 + 2, "checkout"],
        ] as const) {
          await store.putRollout(aRollout({ id, createdAt, service }));
        }
        assert.deepEqual(
          (await store.rolloutsOf("checkout")).map((r) => r.id),
          ["r-3", "r-2", "r-1"],
        );
        assert.deepEqual(
          (await store.rolloutsOf("checkout", 2)).map((r) => r.id),
          ["r-3", "r-2"],
        );
        assert.deepEqual(await store.rolloutsOf("checkout", 0), []);
        assert.deepEqual(await store.rolloutsOf("nothing"), []);
      });
    });

    describe("transactions", () => {
      test("commits every write of the function and returns its result", async (store) => {
        const result = await store.transaction(async (tx) => {
          await tx.putRollout(aRollout());
          return await tx.appendEvent(anEvent());
        });
        assert.deepEqual(await store.getRollout("r-0001"), aRollout());
        assert.deepEqual(await store.eventsOf("checkout"), [result]);
      });

      test("an exception inside rolls back both the rollout and its event, and is rethrown", async (store) => {
        await store.putRollout(aRollout());
        const before = await store.eventsOf("checkout");
        const boom = new Error("effect failed");
        const thrown = await catchError(
          async () =>
            await store.transaction(async (tx) => {
              await tx.putRollout(aRollout({ revision: 2, phase: "Paused" }));
              await tx.appendEvent(anEvent({ type: "paused" }));
              await tx.putService(aService());
              throw boom;
            }),
        );
        assert.equal(thrown, boom);
        assert.deepEqual(await store.getRollout("r-0001"), aRollout());
        assert.deepEqual(await store.eventsOf("checkout"), before);
        assert.equal(await store.getService("checkout"), undefined);
      });

      test("a stale write inside a transaction undoes the writes before it", async (store) => {
        await store.putRollout(aRollout());
        await assert.rejects(
          async () =>
            await store.transaction(async (tx) => {
              await tx.appendEvent(anEvent());
              await tx.putRollout(aRollout({ revision: 1 }));
            }),
          StaleWriteError,
        );
        assert.deepEqual(await store.eventsAfter(0), []);
      });

      test("a store call inside its own transaction is refused, not left waiting", async (store) => {
        const err = await catchError(() =>
          store.transaction(async (tx) => {
            await tx.putRollout(aRollout());
            await store.transaction(async (inner) => await inner.appendEvent(anEvent()));
          }),
        );
        assert.ok(err instanceof AviaryError, String(err));
        assert.equal(err.code, "AVIARY_STORE_NESTED");
        assert.match(err.message, /use the tx/);
        await assert.rejects(
          store.transaction(async () => {
            await store.getService("checkout");
          }),
          (e: unknown) => e instanceof AviaryError && e.code === "AVIARY_STORE_NESTED",
        );
        assert.equal(await store.getRollout("r-0001"), undefined, "the outer rolled back");
        await store.putService(aService());
        assert.deepEqual(await store.getService("checkout"), aService(), "the store still works");
      });

      test("runs transactions one at a time: concurrent ones do not interleave", async (store) => {
        const order: string[] = [];
        const slow = store.transaction(async (tx) => {
          order.push("a begins");
          await tx.appendEvent(anEvent({ type: "a1" }));
          await new Promise((resolve) => setTimeout(resolve, 20));
          await tx.appendEvent(anEvent({ type: "a2" }));
          order.push("a ends");
        });
        const fast = store.transaction(async (tx) => {
          order.push("b begins");
          await tx.appendEvent(anEvent({ type: "b" }));
          order.push("b ends");
        });
        const read = store.eventsAfter(0);
        await Promise.all([slow, fast]);
        assert.deepEqual(order, ["a begins", "a ends", "b begins", "b ends"]);
        assert.deepEqual(
          (await store.eventsAfter(0)).map((e) => e.type),
          ["a1", "a2", "b"],
        );
        assert.deepEqual(
          (await read).map((e) => e.type),
          ["a1", "a2", "b"],
          "a read queued behind the transactions ran after them, not inside one",
        );
      });

      test("a tx call after its transaction ended is refused", async (store) => {
        let leaked: StoreTx | undefined;
        await store.transaction(async (tx) => {
          leaked = tx;
        });
        await assert.rejects(leaked!.appendEvent(anEvent()), /after its transaction ended/);
        assert.deepEqual(await store.eventsAfter(0), []);
      });
    });

    describe("events", () => {
      test("appendEvent returns the event with its seq, as eventsOf returns it later", async (store) => {
        const rich = await store.appendEvent(anEvent());
        const bare = await store.appendEvent(aServiceEvent());
        assert.deepEqual(rich, withSeq(anEvent(), rich.seq));
        assert.deepEqual(bare, withSeq(aServiceEvent(), bare.seq));
        assert.deepEqual(await store.eventsOf("checkout"), [rich, bare]);
      });

      test("seq strictly increases across services and is never reused", async (store) => {
        const seqs: number[] = [];
        for (let i = 0; i < 5; i++) {
          seqs.push((await store.appendEvent(anEvent({ service: i % 2 ? "a" : "b" }))).seq);
        }
        // After a rolled-back append, the next seq is still above every committed one.
        await assert.rejects(
          async () =>
            await store.transaction(async (tx) => {
              seqs.push((await tx.appendEvent(anEvent())).seq);
              throw new Error("rollback");
            }),
        );
        const after = (await store.appendEvent(anEvent())).seq;
        for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `${seqs}`);
        assert.ok(after > seqs[4]!, `${after} after ${seqs}`);
        assert.ok(Number.isSafeInteger(after) && seqs[0]! > 0);
      });

      test("eventsOf pages a service's history with afterSeq and limit", async (store) => {
        const mine = [];
        for (let i = 0; i < 7; i++) {
          mine.push(await store.appendEvent(anEvent({ at: T0 + i, reason: `mine ${i}` })));
          await store.appendEvent(anEvent({ service: "other", reason: `other ${i}` }));
        }
        assert.deepEqual(await store.eventsOf("checkout"), mine);
        const pages = [];
        let afterSeq = 0;
        for (;;) {
          const page = await store.eventsOf("checkout", { afterSeq, limit: 3 });
          if (page.length === 0) break;
          pages.push(page.map((e) => e.reason));
          afterSeq = page.at(-1)!.seq;
        }
        assert.deepEqual(pages, [
          ["mine 0", "mine 1", "mine 2"],
          ["mine 3", "mine 4", "mine 5"],
          ["mine 6"],
        ]);
        assert.deepEqual(await store.eventsOf("checkout", { afterSeq: mine[5]!.seq }), [mine[6]]);
        assert.deepEqual(await store.eventsOf("checkout", { limit: 0 }), []);
        assert.deepEqual(await store.eventsOf("nobody"), []);
      });

      test("eventsAfter returns every service's events after a seq, oldest first", async (store) => {
        const all = [];
        for (const service of ["a", "b", "a", "c"])
          all.push(await store.appendEvent(anEvent({ service })));
        assert.deepEqual(await store.eventsAfter(0), all);
        assert.deepEqual(await store.eventsAfter(all[1]!.seq), all.slice(2));
        assert.deepEqual(await store.eventsAfter(0, 2), all.slice(0, 2));
        assert.deepEqual(await store.eventsAfter(all[3]!.seq), []);
      });
    });

    describe("versions", () => {
      test("recordVersion inserts, then updates targets and lastSeenAt but keeps firstSeenAt", async (store) => {
        await store.recordVersion("checkout", "v1", ["http://a:1"], T0);
        assert.deepEqual(await store.versionsOf("checkout"), [
          {
            service: "checkout",
            version: "v1",
            targets: ["http://a:1"],
            firstSeenAt: T0,
            lastSeenAt: T0,
          },
        ]);
        await store.recordVersion("checkout", "v1", ["http://a:1", "http://b:2"], T0 + 50);
        assert.deepEqual(await store.versionsOf("checkout"), [
          {
            service: "checkout",
            version: "v1",
            targets: ["http://a:1", "http://b:2"],
            firstSeenAt: T0,
            lastSeenAt: T0 + 50,
          },
        ]);
      });

      test("versionsOf lists one service's versions by first deployment", async (store) => {
        await store.recordVersion("checkout", "v2", ["http://a:2"], T0 + 20);
        await store.recordVersion("checkout", "v1", ["http://a:1"], T0 + 10);
        await store.recordVersion("search", "v9", ["http://s:9"], T0);
        await store.recordVersion("checkout", "v1", ["http://a:1"], T0 + 30);
        assert.deepEqual(
          (await store.versionsOf("checkout")).map((v) => [v.version, v.firstSeenAt, v.lastSeenAt]),
          [
            ["v1", T0 + 10, T0 + 30],
            ["v2", T0 + 20, T0 + 20],
          ],
        );
        assert.deepEqual(await store.versionsOf("nothing"), []);
      });
    });

    describe("service revisions", () => {
      test("a service is stored at revision 1 and each write must follow the stored one", async (store) => {
        await assert.rejects(store.putService(aService({ revision: 2 })), StaleWriteError);
        await store.putService(aService());
        assert.equal((await store.getService("checkout"))?.revision, 1);
        await store.putService(aService({ revision: 2, rolloutId: "r-0001" }));
        for (const revision of [1, 2, 4]) {
          const err = await catchError(() => store.putService(aService({ revision })));
          assert.ok(err instanceof StaleWriteError, String(err));
          assert.equal(err.kind, "service");
          assert.equal(err.id, "checkout");
          assert.equal(err.storedRevision, 2);
          assert.match(err.message, /service checkout/);
        }
        assert.deepEqual(
          await store.getService("checkout"),
          aService({ revision: 2, rolloutId: "r-0001" }),
        );
      });

      test("a deleted service is put again from revision 1", async (store) => {
        await store.putService(aService());
        await store.putService(aService({ revision: 2 }));
        await store.deleteService("checkout");
        await store.putService(aService({ revision: 1, updatedAt: T0 + 9 }));
        assert.deepEqual(await store.getService("checkout"), aService({ updatedAt: T0 + 9 }));
      });
    });

    describe("applied spec", () => {
      test("keeps the spec with its revision and refuses a stale one", async (store) => {
        assert.equal(await store.getAppliedSpec(), undefined);
        const first = { revision: 1, spec: SPEC, source: "aviary.yaml", appliedAt: T0 };
        await store.putAppliedSpec(first);
        assert.deepEqual(await store.getAppliedSpec(), first);
        const second = { revision: 2, spec: { services: [] }, source: "api", appliedAt: T0 + 1 };
        await store.putAppliedSpec(second);
        for (const revision of [1, 2, 4]) {
          const err = await catchError(() => store.putAppliedSpec({ ...first, revision }));
          assert.ok(err instanceof StaleWriteError, String(err));
          assert.equal(err.kind, "spec");
          assert.equal(err.storedRevision, 2);
          assert.match(err.message, /applied spec/);
        }
        assert.deepEqual(await store.getAppliedSpec(), second);
      });
    });

    describe("commands", () => {
      test("lists pending commands oldest first, finishes each once, keeps the outcome", async (store) => {
        const stored = [];
        for (const [i, kind] of (["deploy", "pause", "apply"] as const).entries()) {
          stored.push(await store.putCommand(aCommand({ id: `c-${i}`, kind, createdAt: T0 + i })));
        }
        assert.deepEqual(stored[0], {
          ...aCommand({ id: "c-0" }),
          doneAt: null,
          outcome: null,
          committed: null,
        });
        assert.deepEqual(await store.pendingCommands(), stored);
        assert.deepEqual(await store.pendingCommands(2), stored.slice(0, 2));

        const ok: CommandOutcome = { ok: true, result: { rolloutId: "r-0001", n: [1, null] } };
        assert.equal(await store.finishCommand("c-1", ok, T0 + 50), true);
        const failed: CommandOutcome = {
          ok: false,
          error: { code: "AVIARY_X", message: "no", status: 409, details: { why: "busy" } },
        };
        assert.equal(await store.finishCommand("c-1", failed, T0 + 60), false, "done once");
        assert.equal(await store.finishCommand("c-none", ok, T0), false);
        assert.deepEqual(await store.getCommand("c-1"), {
          ...stored[1]!,
          doneAt: T0 + 50,
          outcome: ok,
        });
        assert.deepEqual(
          (await store.pendingCommands()).map((c) => c.id),
          ["c-0", "c-2"],
        );
        await store.finishCommand("c-0", failed, T0 + 70);
        assert.deepEqual((await store.getCommand("c-0"))?.outcome, failed);
        assert.equal(await store.getCommand("c-none"), undefined);
      });

      test("records a command's commit with its transaction, once, and never for an unknown command", async (store) => {
        await store.putCommand(aCommand({ id: "c-0" }));
        await store.putCommand(aCommand({ id: "c-1", createdAt: T0 + 1 }));
        const commit = { at: T0 + 5, data: { rollout: "r-0001", changes: [{ kind: "create" }] } };

        // Rolled back with the transaction's other writes: neither the event nor the mark stays.
        const before = (await store.eventsAfter(0)).length;
        const err = await catchError(() =>
          store.transaction(async (tx) => {
            await tx.appendEvent(anEvent({ type: "lost" }));
            await tx.recordCommandCommit("c-0", commit);
            throw new Error("the disk is full");
          }),
        );
        assert.match(String(err), /the disk is full/);
        assert.equal((await store.eventsAfter(0)).length, before);
        assert.equal((await store.getCommand("c-0"))?.committed, null);

        await store.transaction(async (tx) => {
          await tx.appendEvent(anEvent({ type: "kept" }));
          await tx.recordCommandCommit("c-0", commit);
        });
        assert.deepEqual((await store.getCommand("c-0"))?.committed, commit);
        assert.deepEqual(
          (await store.pendingCommands()).map((c) => [c.id, c.committed]),
          [
            ["c-0", commit],
            ["c-1", null],
          ],
          "a committed command stays pending until its outcome is recorded",
        );

        // A second commit of the same command rolls its whole transaction back.
        const events = (await store.eventsAfter(0)).length;
        const twice = await catchError(() =>
          store.transaction(async (tx) => {
            await tx.appendEvent(anEvent({ type: "twice" }));
            await tx.recordCommandCommit("c-0", { at: T0 + 9, data: {} });
          }),
        );
        assert.ok(twice instanceof CommandCommitError, String(twice));
        assert.equal(twice.code, "AVIARY_STORE_COMMAND_COMMITTED");
        assert.equal(twice.committedAt, T0 + 5);
        assert.match(twice.message, /command c-0 was already committed/);
        assert.equal((await store.eventsAfter(0)).length, events, "nothing written twice");
        assert.deepEqual((await store.getCommand("c-0"))?.committed, commit);

        const unknown = await catchError(() => store.recordCommandCommit("c-none", commit));
        assert.ok(unknown instanceof CommandCommitError, String(unknown));
        assert.equal(unknown.committedAt, undefined);
        assert.match(unknown.message, /command c-none: no such stored command/);

        // The outcome is recorded as for any command; the commit stays with it.
        await store.finishCommand("c-0", { ok: true, result: null }, T0 + 20);
        assert.deepEqual((await store.getCommand("c-0"))?.committed, commit);
        assert.deepEqual(
          (await store.pendingCommands()).map((c) => c.id),
          ["c-1"],
        );
      });
    });

    describe("router reports", () => {
      test("upserts, lists by router and forgets a router", async (store) => {
        assert.deepEqual(await store.routerReports(), []);
        const r2 = aReport({ router: "router-b" });
        await store.putRouterReport(r2);
        await store.putRouterReport(aReport());
        const newer = aReport({ at: T0 + 5, served: { checkout: { revision: 4, weight: 25 } } });
        await store.putRouterReport(newer);
        assert.deepEqual(await store.routerReports(), [newer, r2]);
        await store.deleteRouterReport("router-a");
        await store.deleteRouterReport("router-none");
        assert.deepEqual(await store.routerReports(), [r2]);
      });
    });

    describe("tracking reports", () => {
      test("upserts by instance, lists by instance and forgets those made before a time", async (store) => {
        assert.deepEqual(await store.trackingReports(), []);
        const windows = {
          v: 1,
          from: 100,
          to: 109,
          series: [{ flag: "new-checkout", variant: "on", seconds: [{ s: 104, x: 12, e: 1 }] }],
        };
        const b = { instance: "serve-b", at: T0 + 1_000, windows };
        await store.putTrackingReport(b);
        await store.putTrackingReport({ instance: "serve-a", at: T0, windows: { v: 1 } });
        const a = { instance: "serve-a", at: T0 + 2_000, windows };
        await store.putTrackingReport(a);
        assert.deepEqual(await store.trackingReports(), [a, b]);
        assert.equal(await store.deleteTrackingReportsBefore(T0 + 1_000), 0);
        assert.equal(await store.deleteTrackingReportsBefore(T0 + 1_500), 1);
        assert.deepEqual(await store.trackingReports(), [a]);
        assert.deepEqual(
          await store.routerReports(),
          [],
          "tracking reports are not router reports",
        );
      });
    });

    describe("notification cursor", () => {
      test("is unset at first, moves forward and never back", async (store) => {
        assert.equal(await store.getNotifyCursor(), undefined);
        await store.putNotifyCursor(7, T0);
        assert.equal(await store.getNotifyCursor(), 7);
        await store.putNotifyCursor(12, T0 + 1);
        await store.putNotifyCursor(9, T0 + 2);
        assert.equal(await store.getNotifyCursor(), 12, "a lower seq leaves it where it is");
      });

      test2("a leader's cursor is fenced: refused after a takeover", async (a, b) => {
        const lease = await a.acquireLease("controller", "i-a", SHORT_TTL_MS);
        const leader = a.fenced({ lease: "controller", holder: "i-a", epoch: lease!.epoch });
        await leader.putNotifyCursor(3, T0);
        await until(() => b.acquireLease("controller", "i-b", 60_000));
        await assert.rejects(leader.putNotifyCursor(5, T0), FencedError);
        assert.equal(await b.getNotifyCursor(), 3);
      });
    });

    describe("traffic status", () => {
      test("upserts by service, reads back and forgets", async (store) => {
        assert.equal(await store.getTrafficStatus("checkout"), undefined);
        const first = {
          service: "checkout",
          status: { engine: "haproxy", applied: false, why: "connection refused", attempts: 2 },
          recordedAt: T0,
          recordedBy: "i-1",
        };
        await store.putTrafficStatus(first);
        await store.putTrafficStatus({ ...first, service: "cart" });
        assert.deepEqual(await store.getTrafficStatus("checkout"), first);
        const applied = {
          ...first,
          status: { engine: "haproxy", applied: true, attempts: 0 },
          recordedAt: T0 + 5,
        };
        await store.putTrafficStatus(applied);
        assert.deepEqual(await store.getTrafficStatus("checkout"), applied);
        await store.deleteTrafficStatus("checkout");
        await store.deleteTrafficStatus("none");
        assert.equal(await store.getTrafficStatus("checkout"), undefined);
        assert.equal((await store.getTrafficStatus("cart"))?.recordedBy, "i-1");
      });
    });

    describe("tails", () => {
      test("measurementsAfter returns every run's measurements after a seq, in order", async (store) => {
        await store.putAnalysisRun(aRun());
        await store.putAnalysisRun(aRun({ id: "run-other" }));
        const all = [];
        for (const runId of ["run-0001", "run-other", "run-0001"]) {
          all.push(await store.appendMeasurement(aMeasurement({ runId })));
        }
        assert.deepEqual(await store.measurementsAfter(0), all);
        assert.deepEqual(await store.measurementsAfter(all[0]!.seq), all.slice(1));
        assert.deepEqual(await store.measurementsAfter(0, 1), all.slice(0, 1));
        assert.deepEqual(await store.measurementsAfter(all[2]!.seq), []);
      });

      test2("eventsAfter sees another instance's events in commit order", async (a, b) => {
        const seen = [];
        for (const [i, writer] of [a, b, a, b].entries()) {
          seen.push(await writer.appendEvent(anEvent({ reason: `e${i}` })));
        }
        assert.deepEqual(await a.eventsAfter(0), seen);
        assert.deepEqual(await b.eventsAfter(seen[1]!.seq), seen.slice(2));
      });
    });

    describe("lease", () => {
      test("is taken at epoch 1, renewed at the same epoch, and read back", async (store) => {
        assert.equal(await store.readLease("controller"), undefined);
        const taken = await store.acquireLease("controller", "i-1", 10_000);
        assert.ok(taken !== undefined);
        assert.equal(taken.epoch, 1);
        assert.equal(taken.holder, "i-1");
        assert.equal(taken.expiresAt - taken.now, 10_000);
        const renewed = await store.acquireLease("controller", "i-1", 10_000);
        assert.equal(renewed?.epoch, 1);
        assert.ok(renewed!.expiresAt >= taken.expiresAt);
        const read = await store.readLease("controller");
        assert.equal(read?.holder, "i-1");
        assert.equal(read?.epoch, 1);
        assert.equal(read?.expiresAt, renewed!.expiresAt);
      });

      test2(
        "another holder is refused while it is valid, and takes it after expiry at epoch + 1",
        async (a, b) => {
          const first = await a.acquireLease("controller", "i-a", SHORT_TTL_MS);
          assert.equal(first?.epoch, 1);
          assert.equal(await b.acquireLease("controller", "i-b", SHORT_TTL_MS), undefined);
          const taken = await until(() => b.acquireLease("controller", "i-b", 10_000));
          assert.equal(taken.epoch, 2);
          assert.equal(taken.holder, "i-b");
          assert.equal(await a.acquireLease("controller", "i-a", 10_000), undefined, "a lost it");
          assert.equal((await a.readLease("controller"))?.holder, "i-b");
        },
      );

      test2("a released lease can be taken by another at once", async (a, b) => {
        const held = await a.acquireLease("controller", "i-a", 60_000);
        await a.releaseLease("controller", "i-a", held!.epoch + 1); // not its epoch: ignored
        assert.equal(await b.acquireLease("controller", "i-b", 60_000), undefined);
        await a.releaseLease("controller", "i-a", held!.epoch);
        const taken = await b.acquireLease("controller", "i-b", 60_000);
        assert.equal(taken?.epoch, 2);
      });

      test("leases are independent by name", async (store) => {
        assert.ok(await store.acquireLease("controller", "i-1", 60_000));
        assert.equal((await store.acquireLease("other", "i-2", 60_000))?.epoch, 1);
        assert.equal(await store.acquireLease("controller", "i-2", 60_000), undefined);
      });
    });

    describe("fence", () => {
      test("a fenced write commits while the lease is held; reads are not checked", async (store) => {
        const lease = await store.acquireLease("controller", "i-1", 60_000);
        const fenced = store.fenced({ lease: "controller", holder: "i-1", epoch: lease!.epoch });
        await fenced.transaction(async (tx) => {
          await tx.putRollout(aRollout());
          await tx.appendEvent(anEvent());
        });
        await fenced.putService(aService());
        assert.deepEqual(await fenced.getRollout("r-0001"), aRollout());
        assert.deepEqual(await store.getService("checkout"), aService());
        const stale = store.fenced({ lease: "controller", holder: "i-1", epoch: 99 });
        assert.deepEqual(await stale.getService("checkout"), aService(), "reads are not fenced");
      });

      test2(
        "after a takeover a fenced transaction and a fenced single write throw FencedError and write nothing",
        async (a, b) => {
          const lease = await a.acquireLease("controller", "i-a", SHORT_TTL_MS);
          const fence = { lease: "controller", holder: "i-a", epoch: lease!.epoch };
          const leader = a.fenced(fence);
          await leader.appendEvent(anEvent({ type: "while-held" }));
          const taken = await until(() => b.acquireLease("controller", "i-b", 60_000));

          let ran = false;
          const err = await catchError(() =>
            leader.transaction(async (tx) => {
              ran = true;
              await tx.appendEvent(anEvent({ type: "after-takeover" }));
            }),
          );
          assert.ok(err instanceof FencedError, String(err));
          assert.equal(err.code, "AVIARY_STORE_FENCED");
          assert.equal(ran, false, "the check comes before the function runs");
          assert.match(err.message, /controller/);
          assert.match(err.message, new RegExp(`epoch ${fence.epoch}`));
          assert.match(err.message, new RegExp(`i-b with epoch ${taken.epoch}`));

          await assert.rejects(leader.putService(aService()), FencedError);
          await assert.rejects(leader.appendEvent(anEvent()), FencedError);
          assert.deepEqual(
            (await b.eventsAfter(0)).map((e) => e.type),
            ["while-held"],
          );
          assert.equal(await b.getService("checkout"), undefined);
          // The new holder's fence works.
          await b
            .fenced({ lease: "controller", holder: "i-b", epoch: taken.epoch })
            .putService(aService());
        },
      );

      test("an expired lease fences its own holder, even with nobody else", async (store) => {
        const lease = await store.acquireLease("controller", "i-1", SHORT_TTL_MS);
        const leader = store.fenced({ lease: "controller", holder: "i-1", epoch: lease!.epoch });
        await until(async () => {
          const l = await store.readLease("controller");
          return l!.expiresAt <= l!.now ? true : undefined;
        });
        await assert.rejects(leader.putService(aService()), FencedError);
        await assert.rejects(
          store.fenced({ lease: "nobody", holder: "i-1", epoch: 1 }).putService(aService()),
          /nobody has ever held it/,
        );
        assert.equal(await store.getService("checkout"), undefined);
      });
    });

    describe("change notifications", () => {
      test2(
        "onChange fires when another instance commits, and not after unsubscribing",
        async (a, b) => {
          const kinds = new Set<string>();
          let calls = 0;
          const off = a.onChange((what) => {
            calls++;
            kinds.add(what);
          });
          await b.appendEvent(anEvent());
          await until(async () => (kinds.has("events") ? true : undefined));
          off();
          const before = calls;
          await b.putService(aService());
          // Bounded: several poll periods of a SQLite store, and far more than a NOTIFY needs.
          await new Promise((resolve) => setTimeout(resolve, 600));
          assert.equal(calls, before, "no wake-up after unsubscribing");
        },
      );
    });

    describe("analysis", () => {
      test("round-trips an analysis run, running then finished", async (store) => {
        assert.equal(await store.getAnalysisRun("run-0001"), undefined);
        const running = aRun();
        await store.putAnalysisRun(running);
        assert.deepEqual(await store.getAnalysisRun(running.id), running);
        const done = aRun({
          kind: "background",
          stepIndex: null,
          phase: "Failed",
          message: "error-rate failed 3 times",
          finishedAt: T0 + 60_000,
        });
        await store.putAnalysisRun(done);
        assert.deepEqual(await store.getAnalysisRun(running.id), done);
      });

      test("lists a rollout's analysis runs by start", async (store) => {
        await store.putAnalysisRun(aRun({ id: "run-b", startedAt: T0 + 20 }));
        await store.putAnalysisRun(aRun({ id: "run-a", startedAt: T0 + 10 }));
        await store.putAnalysisRun(aRun({ id: "run-x", rolloutId: "r-other", startedAt: T0 }));
        assert.deepEqual(
          (await store.analysisRunsOf("r-0001")).map((r) => r.id),
          ["run-a", "run-b"],
        );
        assert.deepEqual(await store.analysisRunsOf("r-none"), []);
      });

      test("appends measurements and lists them oldest first, by metric, at most limit", async (store) => {
        await store.putAnalysisRun(aRun());
        await store.putAnalysisRun(aRun({ id: "run-other" }));
        const metrics = ["error-rate", "latency-p99", "error-rate", "latency-p99", "error-rate"];
        const taken = [];
        for (const [i, metric] of metrics.entries()) {
          taken.push(
            await store.appendMeasurement(
              aMeasurement({ metric, startedAt: T0 + i, finishedAt: T0 + i }),
            ),
          );
        }
        await store.appendMeasurement(aMeasurement({ runId: "run-other" }));
        for (let i = 1; i < taken.length; i++) assert.ok(taken[i]!.seq > taken[i - 1]!.seq);
        assert.deepEqual(taken[0], { seq: taken[0]!.seq, ...aMeasurement({ finishedAt: T0 }) });
        assert.deepEqual(await store.measurementsOf("run-0001"), taken);
        assert.deepEqual(await store.measurementsOf("run-0001", { metric: "error-rate" }), [
          taken[0],
          taken[2],
          taken[4],
        ]);
        assert.deepEqual(
          await store.measurementsOf("run-0001", { metric: "latency-p99", limit: 1 }),
          [taken[1]],
        );
        assert.deepEqual(await store.measurementsOf("run-0001", { limit: 2 }), taken.slice(0, 2));
        assert.deepEqual(await store.measurementsOf("run-none"), []);
      });

      test("keeps a measurement with no value and empty evidence", async (store) => {
        await store.putAnalysisRun(aRun());
        const m = aMeasurement({
          phase: "Error",
          value: null,
          evidence: {},
          message: "query failed",
        });
        const stored = await store.appendMeasurement(m);
        assert.deepEqual(await store.measurementsOf("run-0001"), [{ seq: stored.seq, ...m }]);
      });

      test("refuses a measurement of an unknown run and writes nothing", async (store) => {
        await assert.rejects(
          async () => await store.appendMeasurement(aMeasurement({ runId: "run-missing" })),
          (err: unknown) => err instanceof AviaryError && /run-missing/.test(err.message),
        );
        assert.deepEqual(await store.measurementsOf("run-missing"), []);
      });
    });
  });
}

/** A lease this short expires within a test's patience. */
const SHORT_TTL_MS = 300;

/** Polls `probe` until it returns a value (bounded: 5 s), for things that happen by time. */
async function until<T>(probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail("the awaited state never came (5 s)");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function catchError(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  assert.fail("expected an exception");
}
