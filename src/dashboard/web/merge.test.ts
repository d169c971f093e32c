import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { event, measurement, rollout, run, T0, view } from "./fixtures.js";
import {
  applyEvent,
  applyEventToList,
  fresherView,
  lastSeq,
  mergeEvents,
  mergeMeasurement,
} from "./merge.js";

describe("merging the stream into the page", () => {
  it("appends new events in order and drops the ones a replay repeats", () => {
    const history = [event(1), event(2), event(3)];
    const tail = mergeEvents(history, [event(4), event(5)]);
    assert.deepEqual(
      tail.map((e) => e.seq),
      [1, 2, 3, 4, 5],
    );
    const replayed = mergeEvents(tail, [event(3), event(4), event(6), event(5)]);
    assert.deepEqual(
      replayed.map((e) => e.seq),
      [1, 2, 3, 4, 5, 6],
    );
    assert.equal(mergeEvents(history, []), history, "nothing new: the same array");
    assert.equal(lastSeq(replayed), "6");
    assert.equal(lastSeq([]), "");
  });

  it("keeps at most the newest `max` events", () => {
    const history = [event(1), event(2), event(3)];
    assert.deepEqual(
      mergeEvents(history, [event(4), event(5)], 3).map((e) => e.seq),
      [3, 4, 5],
    );
  });

  it("moves the view with an event of its rollout: phase, step, weight, reason", () => {
    const v = view(rollout({ stepIndex: 1, phase: "Paused", updatedAt: T0 }));
    const next = applyEvent(
      v,
      event(9, {
        at: T0 + 30_000,
        type: "step.started",
        phase: "Progressing",
        stepIndex: 2,
        weight: 40,
        reason: "step 3/5: setWeight 40%",
      }),
    );
    assert.equal(next.rollout?.phase, "Progressing");
    assert.equal(next.rollout?.stepIndex, 2);
    assert.equal(next.rollout?.stepStartedAt, T0 + 30_000, "the new step's countdown starts now");
    assert.equal(next.rollout?.traffic.weight, 40);
    assert.equal(next.traffic.weight, 40);
    assert.equal(next.rollout?.reason, "step 3/5: setWeight 40%");
    assert.equal(v.rollout?.stepIndex, 1, "the old view is not mutated");
  });

  it("an abort drops the weight to 0 and ends any pause", () => {
    const v = view(rollout({ stepIndex: 3, phase: "Paused", pausedAt: T0, updatedAt: T0 }));
    const next = applyEvent(
      v,
      event(12, { at: T0 + 1, type: "aborted", phase: "Aborted", stepIndex: 3, weight: 0 }),
    );
    assert.equal(next.rollout?.phase, "Aborted");
    assert.equal(next.rollout?.pausedAt, null);
    assert.equal(next.traffic.weight, 0);
  });

  it("records an operator pause and resume as they happen", () => {
    const v = view(rollout({ updatedAt: T0 }));
    const paused = applyEvent(v, event(3, { at: T0 + 5, type: "paused", phase: "Paused" }));
    assert.equal(paused.rollout?.pausedAt, T0 + 5);
    const resumed = applyEvent(
      paused,
      event(4, { at: T0 + 9, type: "resumed", phase: "Progressing" }),
    );
    assert.equal(resumed.rollout?.pausedAt, null);
  });

  it("ignores events of another service, another rollout, or older than the view", () => {
    const v = view(rollout({ updatedAt: T0 + 10_000 }));
    assert.equal(applyEvent(v, event(1, { service: "cart", at: T0 + 20_000 })), v);
    assert.equal(applyEvent(v, event(2, { rolloutId: "r2", at: T0 + 20_000 })), v);
    assert.equal(applyEvent(v, event(3, { at: T0 + 5_000, weight: 99 })), v);
    assert.equal(applyEvent(view(null), event(4)).rollout, null);
    const list = [v, view(rollout({ updatedAt: T0 }), { name: "cart" })];
    const moved = applyEventToList(list, event(5, { at: T0 + 20_000, weight: 25 }));
    assert.deepEqual(
      moved.map((x) => x.traffic.weight),
      [25, 10],
    );
  });

  it("adds a streamed measurement to its run once, in order; an unknown run asks for a re-read", () => {
    const runs = [run({ measurements: [measurement(1), measurement(3)] })];
    const msg = (seq: number, runId = "r1:step2:1") => ({
      service: "shop",
      rolloutId: "r1",
      runId,
      measurement: measurement(seq, { runId }),
    });
    const added = mergeMeasurement(runs, msg(2));
    assert.equal(added.known, true);
    assert.deepEqual(
      added.runs[0]?.measurements.map((m) => m.seq),
      [1, 2, 3],
    );
    const again = mergeMeasurement(added.runs, msg(2));
    assert.equal(again.runs, added.runs, "a repeat changes nothing");
    const unknown = mergeMeasurement(runs, msg(4, "r1:background:1"));
    assert.equal(unknown.known, false);
    assert.equal(unknown.runs, runs);
  });

  it("keeps what the stream said over a read that started before it", () => {
    const patched = view(rollout({ updatedAt: T0 + 5_000, phase: "Aborted" }));
    const stale = view(rollout({ updatedAt: T0, phase: "Progressing" }));
    assert.equal(fresherView(patched, stale), patched);
    const fresh = view(rollout({ updatedAt: T0 + 5_000, phase: "Aborted", pausedAt: null }));
    assert.equal(fresherView(patched, fresh), fresh, "as new: the read wins (it has every field)");
    const next = view(rollout({ id: "r2", updatedAt: T0 }));
    assert.equal(fresherView(patched, next), next, "a new rollout always wins");
    assert.equal(fresherView(null, stale), stale);
  });
});
