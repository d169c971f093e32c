/**
 * What every Store must do, as `node:test` cases any implementation runs against itself:
 *
 * ```ts
 * runStoreConformance("sqlite file", () => openSqliteStore(join(dir, `${n++}.db`)));
 * ```
 *
 * `open` must return a fresh, empty store each call; each case closes the store it opened.
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
  aMeasurement,
  anEvent,
  aRollout,
  aRun,
  aService,
  aServiceEvent,
  PLAIN_TRAFFIC,
  RICH_TRAFFIC,
  T0,
  V2,
  withSeq,
} from "./conformance-fixtures.js";
import { StaleWriteError } from "./errors.js";
import type { Store } from "./store.js";

/** Registers the conformance cases for one Store implementation under `describe(name)`. */
export function runStoreConformance(name: string, open: () => Store | Promise<Store>): void {
  /** A case with its own fresh store, closed afterwards whatever happens. */
  const test = (title: string, body: (store: Store) => void | Promise<void>) =>
    it(title, async () => {
      const store = await open();
      try {
        await body(store);
      } finally {
        store.close();
      }
    });

  describe(`Store conformance: ${name}`, () => {
    describe("services", () => {
      test("round-trips a service with nulls, then with every nested field set", (store) => {
        assert.equal(store.getService("checkout"), undefined);
        const plain = aService();
        store.putService(plain);
        assert.deepEqual(store.getService("checkout"), plain);

        const rich = aService({
          traffic: RICH_TRAFFIC,
          rolloutId: "r-0001",
          previousStable: V2,
          updatedAt: T0 + 1,
        });
        store.putService(rich);
        assert.deepEqual(store.getService("checkout"), rich);
      });

      test("lists services by name", (store) => {
        for (const name of ["search", "checkout", "cart"]) store.putService(aService({ name }));
        assert.deepEqual(
          store.listServices().map((s) => s.name),
          ["cart", "checkout", "search"],
        );
      });

      test("deletes a service's state and keeps its rollouts, history and versions", (store) => {
        store.putService(aService({ rolloutId: "r-0001" }));
        store.putService(aService({ name: "cart" }));
        store.appendEvent(anEvent());
        store.recordVersion("checkout", "v1", ["http://127.0.0.1:9001"], T0);
        store.transaction((tx) => tx.deleteService("checkout"));
        assert.equal(store.getService("checkout"), undefined);
        assert.deepEqual(
          store.listServices().map((s) => s.name),
          ["cart"],
        );
        assert.equal(store.eventsOf("checkout").length, 1, "the history stays");
        assert.equal(store.versionsOf("checkout").length, 1, "the versions stay");
        store.deleteService("checkout"); // deleting what is gone changes nothing
        store.putService(aService());
        assert.deepEqual(store.getService("checkout"), aService(), "and it can come back");
      });

      test("returns copies: mutating a record read or written does not change the store", (store) => {
        const written = aService({ traffic: structuredClone(RICH_TRAFFIC) });
        store.putService(written);
        written.traffic.headerRoutes.pop();
        const read = store.getService("checkout")!;
        read.traffic.weight = 99;
        assert.deepEqual(store.getService("checkout"), aService({ traffic: RICH_TRAFFIC }));
      });
    });

    describe("rollouts", () => {
      test("round-trips a rollout with nulls, then with them set", (store) => {
        assert.equal(store.getRollout("r-0001"), undefined);
        const first = aRollout();
        store.putRollout(first);
        assert.deepEqual(store.getRollout(first.id), first);

        const finished = aRollout({
          phase: "Aborted",
          pausedAt: T0 + 5,
          finishedAt: T0 + 9,
          traffic: PLAIN_TRAFFIC,
          strategy: [],
          updatedAt: T0 + 9,
          revision: 2,
        });
        store.putRollout(finished);
        assert.deepEqual(store.getRollout(first.id), finished);
      });

      test("accepts each revision only right after the stored one", (store) => {
        assert.throws(() => store.putRollout(aRollout({ revision: 2 })), StaleWriteError);
        assert.equal(store.getRollout("r-0001"), undefined, "a new rollout needs revision 1");
        store.putRollout(aRollout({ revision: 1 }));
        store.putRollout(aRollout({ revision: 2, reason: "two" }));
        store.putRollout(aRollout({ revision: 3, reason: "three" }));
        assert.equal(store.getRollout("r-0001")?.revision, 3);
      });

      test("refuses a stale write with StaleWriteError and writes nothing", (store) => {
        store.putRollout(aRollout({ revision: 1 }));
        store.putRollout(aRollout({ revision: 2, reason: "kept" }));
        const stored = store.getRollout("r-0001");
        for (const revision of [1, 2, 4]) {
          const err = catchError(() =>
            store.putRollout(aRollout({ revision, reason: `lost ${revision}` })),
          );
          assert.ok(err instanceof StaleWriteError, `revision ${revision}: ${err}`);
          assert.ok(err instanceof AviaryError);
          assert.equal(err.code, "AVIARY_STORE_STALE_WRITE");
          assert.equal(err.rolloutId, "r-0001");
          assert.equal(err.revision, revision);
          assert.equal(err.storedRevision, 2);
          assert.match(err.message, /r-0001/);
        }
        assert.deepEqual(store.getRollout("r-0001"), stored);
      });

      test("lists active rollouts (not Healthy or Aborted) oldest first", (store) => {
        const phases: Array<[string, RolloutPhase, number]> = [
          ["r-c", "Paused", T0 + 30],
          ["r-a", "Healthy", T0 + 10],
          ["r-d", "Analyzing", T0 + 5],
          ["r-b", "Aborted", T0 + 1],
          ["r-e", "Progressing", T0 + 20],
          ["r-f", "Promoting", T0 + 40],
        ];
        for (const [id, phase, createdAt] of phases) {
          store.putRollout(aRollout({ id, phase, createdAt, service: id }));
        }
        assert.deepEqual(
          store.activeRollouts().map((r) => r.id),
          ["r-d", "r-e", "r-c", "r-f"],
        );
        store.putRollout(
          aRollout({ id: "r-e", phase: "Healthy", createdAt: T0 + 20, revision: 2 }),
        );
        assert.deepEqual(
          store.activeRollouts().map((r) => r.id),
          ["r-d", "r-c", "r-f"],
        );
        assert.deepEqual(
          store.activeRollouts()[0],
          aRollout({ id: "r-d", phase: "Analyzing", createdAt: T0 + 5, service: "r-d" }),
        );
      });

      test("lists a service's rollouts newest first, at most limit", (store) => {
        for (const [id, createdAt, service] of [
          ["r-1", T0 + 1, "checkout"],
          ["r-3", T0 + 3, "checkout"],
          ["r-x", T0 + 4, "search"],
          ["r-2", T0 + 2, "checkout"],
        ] as const) {
          store.putRollout(aRollout({ id, createdAt, service }));
        }
        assert.deepEqual(
          store.rolloutsOf("checkout").map((r) => r.id),
          ["r-3", "r-2", "r-1"],
        );
        assert.deepEqual(
          store.rolloutsOf("checkout", 2).map((r) => r.id),
          ["r-3", "r-2"],
        );
        assert.deepEqual(store.rolloutsOf("checkout", 0), []);
        assert.deepEqual(store.rolloutsOf("nothing"), []);
      });
    });

    describe("transactions", () => {
      test("commits every write of the function and returns its result", (store) => {
        const result = store.transaction((tx) => {
          tx.putRollout(aRollout());
          return tx.appendEvent(anEvent());
        });
        assert.deepEqual(store.getRollout("r-0001"), aRollout());
        assert.deepEqual(store.eventsOf("checkout"), [result]);
      });

      test("an exception inside rolls back both the rollout and its event, and is rethrown", (store) => {
        store.putRollout(aRollout());
        const before = store.eventsOf("checkout");
        const boom = new Error("effect failed");
        const thrown = catchError(() =>
          store.transaction((tx) => {
            tx.putRollout(aRollout({ revision: 2, phase: "Paused" }));
            tx.appendEvent(anEvent({ type: "paused" }));
            tx.putService(aService());
            throw boom;
          }),
        );
        assert.equal(thrown, boom);
        assert.deepEqual(store.getRollout("r-0001"), aRollout());
        assert.deepEqual(store.eventsOf("checkout"), before);
        assert.equal(store.getService("checkout"), undefined);
      });

      test("a stale write inside a transaction undoes the writes before it", (store) => {
        store.putRollout(aRollout());
        assert.throws(
          () =>
            store.transaction((tx) => {
              tx.appendEvent(anEvent());
              tx.putRollout(aRollout({ revision: 1 }));
            }),
          StaleWriteError,
        );
        assert.deepEqual(store.eventsAfter(0), []);
      });

      test("nests: an inner failure caught by the outer undoes only the inner writes", (store) => {
        store.transaction((tx) => {
          tx.putRollout(aRollout());
          assert.throws(() =>
            store.transaction((inner) => {
              inner.appendEvent(anEvent({ type: "inner" }));
              inner.putService(aService());
              throw new Error("inner");
            }),
          );
          tx.appendEvent(anEvent({ type: "outer" }));
        });
        assert.deepEqual(store.getRollout("r-0001"), aRollout());
        assert.deepEqual(
          store.eventsOf("checkout").map((e) => e.type),
          ["outer"],
        );
        assert.equal(store.getService("checkout"), undefined);
      });

      test("nests: an outer failure undoes the committed inner writes too", (store) => {
        assert.throws(() =>
          store.transaction(() => {
            store.transaction((inner) => inner.appendEvent(anEvent()));
            throw new Error("outer");
          }),
        );
        assert.deepEqual(store.eventsAfter(0), []);
      });
    });

    describe("events", () => {
      test("appendEvent returns the event with its seq, as eventsOf returns it later", (store) => {
        const rich = store.appendEvent(anEvent());
        const bare = store.appendEvent(aServiceEvent());
        assert.deepEqual(rich, withSeq(anEvent(), rich.seq));
        assert.deepEqual(bare, withSeq(aServiceEvent(), bare.seq));
        assert.deepEqual(store.eventsOf("checkout"), [rich, bare]);
      });

      test("seq strictly increases across services and is never reused", (store) => {
        const seqs: number[] = [];
        for (let i = 0; i < 5; i++) {
          seqs.push(store.appendEvent(anEvent({ service: i % 2 ? "a" : "b" })).seq);
        }
        // After a rolled-back append, the next seq is still above every committed one.
        assert.throws(() =>
          store.transaction((tx) => {
            seqs.push(tx.appendEvent(anEvent()).seq);
            throw new Error("rollback");
          }),
        );
        const after = store.appendEvent(anEvent()).seq;
        for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `${seqs}`);
        assert.ok(after > seqs[4]!, `${after} after ${seqs}`);
        assert.ok(Number.isSafeInteger(after) && seqs[0]! > 0);
      });

      test("eventsOf pages a service's history with afterSeq and limit", (store) => {
        const mine = [];
        for (let i = 0; i < 7; i++) {
          mine.push(store.appendEvent(anEvent({ at: T0 + i, reason: `mine ${i}` })));
          store.appendEvent(anEvent({ service: "other", reason: `other ${i}` }));
        }
        assert.deepEqual(store.eventsOf("checkout"), mine);
        const pages = [];
        let afterSeq = 0;
        for (;;) {
          const page = store.eventsOf("checkout", { afterSeq, limit: 3 });
          if (page.length === 0) break;
          pages.push(page.map((e) => e.reason));
          afterSeq = page.at(-1)!.seq;
        }
        assert.deepEqual(pages, [
          ["mine 0", "mine 1", "mine 2"],
          ["mine 3", "mine 4", "mine 5"],
          ["mine 6"],
        ]);
        assert.deepEqual(store.eventsOf("checkout", { afterSeq: mine[5]!.seq }), [mine[6]]);
        assert.deepEqual(store.eventsOf("checkout", { limit: 0 }), []);
        assert.deepEqual(store.eventsOf("nobody"), []);
      });

      test("eventsAfter returns every service's events after a seq, oldest first", (store) => {
        const all = ["a", "b", "a", "c"].map((service) => store.appendEvent(anEvent({ service })));
        assert.deepEqual(store.eventsAfter(0), all);
        assert.deepEqual(store.eventsAfter(all[1]!.seq), all.slice(2));
        assert.deepEqual(store.eventsAfter(0, 2), all.slice(0, 2));
        assert.deepEqual(store.eventsAfter(all[3]!.seq), []);
      });
    });

    describe("versions", () => {
      test("recordVersion inserts, then updates targets and lastSeenAt but keeps firstSeenAt", (store) => {
        store.recordVersion("checkout", "v1", ["http://a:1"], T0);
        assert.deepEqual(store.versionsOf("checkout"), [
          {
            service: "checkout",
            version: "v1",
            targets: ["http://a:1"],
            firstSeenAt: T0,
            lastSeenAt: T0,
          },
        ]);
        store.recordVersion("checkout", "v1", ["http://a:1", "http://b:2"], T0 + 50);
        assert.deepEqual(store.versionsOf("checkout"), [
          {
            service: "checkout",
            version: "v1",
            targets: ["http://a:1", "http://b:2"],
            firstSeenAt: T0,
            lastSeenAt: T0 + 50,
          },
        ]);
      });

      test("versionsOf lists one service's versions by first deployment", (store) => {
        store.recordVersion("checkout", "v2", ["http://a:2"], T0 + 20);
        store.recordVersion("checkout", "v1", ["http://a:1"], T0 + 10);
        store.recordVersion("search", "v9", ["http://s:9"], T0);
        store.recordVersion("checkout", "v1", ["http://a:1"], T0 + 30);
        assert.deepEqual(
          store.versionsOf("checkout").map((v) => [v.version, v.firstSeenAt, v.lastSeenAt]),
          [
            ["v1", T0 + 10, T0 + 30],
            ["v2", T0 + 20, T0 + 20],
          ],
        );
        assert.deepEqual(store.versionsOf("nothing"), []);
      });
    });

    describe("analysis", () => {
      test("round-trips an analysis run, running then finished", (store) => {
        assert.equal(store.getAnalysisRun("run-0001"), undefined);
        const running = aRun();
        store.putAnalysisRun(running);
        assert.deepEqual(store.getAnalysisRun(running.id), running);
        const done = aRun({
          kind: "background",
          stepIndex: null,
          phase: "Failed",
          message: "error-rate failed 3 times",
          finishedAt: T0 + 60_000,
        });
        store.putAnalysisRun(done);
        assert.deepEqual(store.getAnalysisRun(running.id), done);
      });

      test("lists a rollout's analysis runs by start", (store) => {
        store.putAnalysisRun(aRun({ id: "run-b", startedAt: T0 + 20 }));
        store.putAnalysisRun(aRun({ id: "run-a", startedAt: T0 + 10 }));
        store.putAnalysisRun(aRun({ id: "run-x", rolloutId: "r-other", startedAt: T0 }));
        assert.deepEqual(
          store.analysisRunsOf("r-0001").map((r) => r.id),
          ["run-a", "run-b"],
        );
        assert.deepEqual(store.analysisRunsOf("r-none"), []);
      });

      test("appends measurements and lists them oldest first, by metric, at most limit", (store) => {
        store.putAnalysisRun(aRun());
        store.putAnalysisRun(aRun({ id: "run-other" }));
        const metrics = ["error-rate", "latency-p99", "error-rate", "latency-p99", "error-rate"];
        const taken = metrics.map((metric, i) =>
          store.appendMeasurement(aMeasurement({ metric, startedAt: T0 + i, finishedAt: T0 + i })),
        );
        store.appendMeasurement(aMeasurement({ runId: "run-other" }));
        for (let i = 1; i < taken.length; i++) assert.ok(taken[i]!.seq > taken[i - 1]!.seq);
        assert.deepEqual(taken[0], { seq: taken[0]!.seq, ...aMeasurement({ finishedAt: T0 }) });
        assert.deepEqual(store.measurementsOf("run-0001"), taken);
        assert.deepEqual(store.measurementsOf("run-0001", { metric: "error-rate" }), [
          taken[0],
          taken[2],
          taken[4],
        ]);
        assert.deepEqual(store.measurementsOf("run-0001", { metric: "latency-p99", limit: 1 }), [
          taken[1],
        ]);
        assert.deepEqual(store.measurementsOf("run-0001", { limit: 2 }), taken.slice(0, 2));
        assert.deepEqual(store.measurementsOf("run-none"), []);
      });

      test("keeps a measurement with no value and empty evidence", (store) => {
        store.putAnalysisRun(aRun());
        const m = aMeasurement({
          phase: "Error",
          value: null,
          evidence: {},
          message: "query failed",
        });
        const stored = store.appendMeasurement(m);
        assert.deepEqual(store.measurementsOf("run-0001"), [{ seq: stored.seq, ...m }]);
      });

      test("refuses a measurement of an unknown run and writes nothing", (store) => {
        assert.throws(
          () => store.appendMeasurement(aMeasurement({ runId: "run-missing" })),
          (err: unknown) => err instanceof AviaryError && /run-missing/.test(err.message),
        );
        assert.deepEqual(store.measurementsOf("run-missing"), []);
      });
    });
  });
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail("expected an exception");
}
