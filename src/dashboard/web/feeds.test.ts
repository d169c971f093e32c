import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApiError, type RolloutEvent, type ServiceView } from "./api.js";
import {
  type FeedApi,
  type FeedDeps,
  HISTORY_PAGE,
  OverviewFeed,
  REREAD_DEBOUNCE_MS,
  RETRY_LOAD_MS,
  SERVICE_METRICS_MS,
  ServiceFeed,
} from "./feeds.js";
import {
  arm,
  event,
  ManualTimers,
  measurement,
  metrics,
  rollout,
  run,
  T0,
  view,
} from "./fixtures.js";
import type { EventStreamOptions } from "./stream.js";

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

/** An API whose answers the test sets, counting calls. */
function fakeApi() {
  const calls: string[] = [];
  const state = {
    views: new Map<string, ServiceView>([["shop", view(rollout({ updatedAt: T0 }))]]),
    history: [event(1), event(2)] as RolloutEvent[],
    runs: [run({ measurements: [measurement(1)] })],
    fail: null as ApiError | null,
  };
  const answer = <T>(what: string, value: () => T): Promise<T> => {
    calls.push(what);
    if (state.fail !== null) return Promise.reject(state.fail);
    return Promise.resolve(value());
  };
  const api: FeedApi = {
    services: () => answer("services", () => ({ services: [...state.views.values()] })),
    service: (name) =>
      answer(`service ${name}`, () => {
        const v = state.views.get(name);
        if (v === undefined)
          throw new ApiError(404, "AVIARY_UNKNOWN_SERVICE", `no service ${name}`);
        return v;
      }),
    history: (name, after, limit) =>
      answer(`history ${name} after ${after}`, () => ({
        events: state.history.filter((e) => e.seq > after).slice(0, limit),
      })),
    analysis: (name) => answer(`analysis ${name}`, () => ({ runs: state.runs })),
    metrics: (name, window, step) =>
      answer(`metrics ${name} ${window}/${step}`, () => metrics([arm("stable", "v1")])),
  };
  return { api, calls, state };
}

function deps(api: FeedApi) {
  const timers = new ManualTimers();
  const streams: EventStreamOptions[] = [];
  const unauthorized: string[] = [];
  const live: number[] = [];
  const d: FeedDeps = {
    api,
    timers,
    token: () => "t",
    openStream: (opts) => {
      streams.push(opts);
      return { start: () => {}, close: () => {} };
    },
    onUnauthorized: (detail) => unauthorized.push(detail),
    onLiveEvent: (e) => live.push(e.seq),
  };
  return { d, timers, streams, unauthorized, live };
}

describe("rollout page feed", () => {
  it("reads the service, its whole history page by page, and its analysis, then streams from the last event", async () => {
    const f = fakeApi();
    f.state.history = Array.from({ length: HISTORY_PAGE + 3 }, (_, i) => event(i + 1));
    const { d, streams } = deps(f.api);
    const feed = new ServiceFeed("shop", d, () => {});
    feed.start();
    await settle();
    assert.equal(feed.state.history.length, HISTORY_PAGE + 3);
    assert.ok(f.calls.includes(`history shop after ${HISTORY_PAGE}`), f.calls.join("; "));
    assert.equal(streams[0]?.url, "/api/v1/stream?service=shop");
    assert.equal(streams[0]?.lastEventId, String(HISTORY_PAGE + 3));
    assert.ok(f.calls.includes("metrics shop 5m/5s"));
    assert.deepEqual(
      feed.state.metrics?.versions.map((v) => v.role),
      ["stable"],
    );
    feed.stop();
  });

  it("moves at once on an event, then re-reads once for the rest; a stale read does not undo it", async () => {
    const f = fakeApi();
    const { d, timers, streams, live } = deps(f.api);
    const feed = new ServiceFeed("shop", d, () => {});
    feed.start();
    await settle();
    const stream = streams[0]!;
    f.calls.length = 0;
    stream.onEvent(event(3, { type: "aborted", phase: "Aborted", weight: 0 }));
    stream.onEvent(event(2)); // a replayed one
    assert.equal(feed.state.view?.rollout?.phase, "Aborted");
    assert.equal(feed.state.view?.traffic.weight, 0);
    assert.deepEqual(
      feed.state.history.map((e) => e.seq),
      [1, 2, 3],
    );
    assert.deepEqual(live, [3], "only the new event is announced");
    timers.fire(REREAD_DEBOUNCE_MS);
    await settle();
    assert.deepEqual(f.calls.sort(), ["analysis shop", "service shop"], "one re-read");
    assert.equal(feed.state.view?.rollout?.phase, "Aborted", "the older read did not win");
    feed.stop();
  });

  it("adds streamed measurements to their run, and re-reads the analysis for a run it does not know", async () => {
    const f = fakeApi();
    const { d, timers, streams } = deps(f.api);
    const feed = new ServiceFeed("shop", d, () => {});
    feed.start();
    await settle();
    const m = (seq: number, runId: string) => ({
      service: "shop",
      rolloutId: "r1",
      runId,
      measurement: measurement(seq, { runId }),
    });
    streams[0]!.onMeasurement?.(m(2, "r1:step2:1"));
    assert.deepEqual(
      feed.state.runs[0]?.measurements.map((x) => x.seq),
      [1, 2],
    );
    f.calls.length = 0;
    streams[0]!.onMeasurement?.(m(3, "r1:background:1"));
    timers.fire(REREAD_DEBOUNCE_MS);
    await settle();
    assert.ok(f.calls.includes("analysis shop"));
    feed.stop();
  });

  it("reports a refused token, from a read or from the stream", async () => {
    const f = fakeApi();
    f.state.fail = new ApiError(401, "AVIARY_UNAUTHORIZED", "the bearer token is not known");
    const { d, unauthorized, timers } = deps(f.api);
    new ServiceFeed("shop", d, () => {}).start();
    await settle();
    assert.deepEqual(unauthorized, ["the bearer token is not known"]);
    assert.equal(timers.pending.size, 0);

    const g = fakeApi();
    const second = deps(g.api);
    new ServiceFeed("shop", second.d, () => {}).start();
    await settle();
    second.streams[0]!.onStatus?.({ kind: "unauthorized", detail: "revoked" });
    assert.deepEqual(second.unauthorized, ["revoked"]);
  });

  it("says when the service is unknown and stops; tries again when the server is away", async () => {
    const f = fakeApi();
    const { d, timers } = deps(f.api);
    const unknown = new ServiceFeed("nope", d, () => {});
    unknown.start();
    await settle();
    assert.equal(unknown.state.error, "no service nope");
    assert.equal(timers.pending.size, 0);

    f.state.fail = new ApiError(0, "AVIARY_UNREACHABLE", "cannot reach the Aviary admin server");
    const away = new ServiceFeed("shop", d, () => {});
    away.start();
    await settle();
    assert.equal(away.state.error, "cannot reach the Aviary admin server");
    f.state.fail = null;
    timers.fire(RETRY_LOAD_MS);
    await settle();
    assert.equal(away.state.error, null);
    assert.equal(away.state.view?.name, "shop");
    away.stop();
  });

  it("polls metrics only while the page is visible", async () => {
    const f = fakeApi();
    const { d, timers } = deps(f.api);
    const feed = new ServiceFeed("shop", d, () => {});
    feed.start();
    await settle();
    const reads = () => f.calls.filter((c) => c.startsWith("metrics")).length;
    assert.equal(reads(), 1);
    feed.setVisible(false);
    timers.fire(SERVICE_METRICS_MS);
    await settle();
    assert.equal(reads(), 1, "hidden: no read");
    timers.fire(SERVICE_METRICS_MS);
    await settle();
    assert.equal(reads(), 1);
    feed.setVisible(true);
    await settle();
    assert.equal(reads(), 2, "visible again: read at once");
    feed.stop();
    assert.equal(timers.pending.size, 0, "stopping cancels every timer");
  });
});

describe("overview feed", () => {
  it("lists the services, patches one from an event and re-reads only that one", async () => {
    const f = fakeApi();
    f.state.views.set(
      "cart",
      view(rollout({ id: "c1", service: "cart", updatedAt: T0 }), { name: "cart" }),
    );
    const { d, timers, streams } = deps(f.api);
    const feed = new OverviewFeed(d, () => {});
    feed.start();
    await settle();
    assert.deepEqual(
      feed.state.views?.map((v) => v.name),
      ["cart", "shop"],
    );
    assert.equal(streams[0]?.url, "/api/v1/stream");
    assert.equal(streams[0]?.lastEventId, undefined, "live only");
    assert.deepEqual(Object.keys(feed.state.metrics).sort(), ["cart", "shop"]);
    f.calls.length = 0;
    streams[0]!.onEvent(event(9, { at: T0 + 5, weight: 40 }));
    assert.equal(feed.state.views?.find((v) => v.name === "shop")?.traffic.weight, 40);
    timers.fire(REREAD_DEBOUNCE_MS);
    await settle();
    assert.deepEqual(f.calls, ["service shop"]);
    feed.stop();
  });

  it("re-reads the whole list for a service it has not seen, and whenever the stream (re)connects", async () => {
    const f = fakeApi();
    const { d, timers, streams } = deps(f.api);
    const feed = new OverviewFeed(d, () => {});
    feed.start();
    await settle();
    f.state.views.set("new", view(null, { name: "new" }));
    f.calls.length = 0;
    streams[0]!.onEvent(event(10, { service: "new", rolloutId: null, type: "service.created" }));
    timers.fire(REREAD_DEBOUNCE_MS);
    await settle();
    assert.deepEqual(f.calls, ["services"]);
    assert.deepEqual(
      feed.state.views?.map((v) => v.name),
      ["new", "shop"],
    );
    f.calls.length = 0;
    streams[0]!.onStatus?.({ kind: "live", resumed: true });
    timers.fire(REREAD_DEBOUNCE_MS);
    await settle();
    assert.deepEqual(f.calls, ["services"]);
    feed.stop();
  });
});
