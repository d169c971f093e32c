/**
 * The event stream over real HTTP: live history events and analysis measurements, an exact
 * replay after a reconnect (Last-Event-ID or ?after=), heartbeats on the injectable clock, the
 * stream limit, dropping a client that stops reading, and server close ending every stream.
 */

import assert from "node:assert/strict";
import { get, type IncomingMessage } from "node:http";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import type { RolloutEvent } from "../src/rollout/types.js";
import { ManualClock } from "../src/util/clock.js";
import { settle, startAdmin, type TestAdmin } from "./admin-fixtures.js";
import { startUpstream, type Upstream } from "./fixtures.js";

interface Message {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** A Server-Sent Events client on its own connection, parsing as the spec says. */
class SseClient {
  readonly messages: Message[] = [];
  status = 0;
  body = "";
  /** How the response finished: cleanly, or cut. */
  finished: Promise<"end" | "error">;
  #buffer = "";
  #res: IncomingMessage | undefined;
  #destroy: () => void;

  private constructor(url: string, headers: Record<string, string>, ready: () => void) {
    let finish: (how: "end" | "error") => void = () => {};
    this.finished = new Promise((r) => {
      finish = r;
    });
    const req = get(url, { headers, agent: false }, (res) => {
      this.#res = res;
      this.status = res.statusCode ?? 0;
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (this.status !== 200) this.body += chunk;
        else this.#parse(chunk);
      });
      res.on("end", () => finish("end"));
      res.on("error", () => finish("error"));
      res.on("aborted", () => finish("error"));
      ready();
    });
    req.on("error", () => {
      finish("error");
      ready();
    });
    this.#destroy = () => req.destroy();
  }

  static open(admin: string, path: string, token: string, extra: Record<string, string> = {}) {
    return new Promise<SseClient>((resolve) => {
      const client: SseClient = new SseClient(
        `${admin}${path}`,
        { authorization: `Bearer ${token}`, ...extra },
        () => resolve(client),
      );
    });
  }

  get events(): RolloutEvent[] {
    return this.messages
      .filter((m) => m.event === "rollout-event")
      .map((m) => {
        const e = JSON.parse(m.data ?? "") as RolloutEvent;
        assert.equal(m.id, String(e.seq), "the SSE id is the event's seq");
        return e;
      });
  }

  get lastId(): number {
    return Number(this.messages.filter((m) => m.id !== undefined).at(-1)?.id ?? 0);
  }

  async until(what: string, check: () => boolean): Promise<void> {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      if (check()) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.fail(`timed out waiting for ${what}; got ${JSON.stringify(this.messages)}`);
  }

  async close(): Promise<void> {
    this.#destroy();
    this.#res?.destroy();
    await this.finished;
  }

  #parse(chunk: string): void {
    this.#buffer += chunk;
    for (let end = this.#buffer.indexOf("\n\n"); end !== -1; end = this.#buffer.indexOf("\n\n")) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const m: Message = {};
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) m.comment = line.slice(1).trim();
        else {
          const i = line.indexOf(":");
          const field = line.slice(0, i);
          const value = line.slice(i + 1).replace(/^ /, "");
          if (field === "id" || field === "event" || field === "data") m[field] = value;
        }
      }
      this.messages.push(m);
    }
  }
}

function spec(target: string) {
  const strategy = (steps: unknown[]) => ({ steps: steps as never });
  return {
    services: [
      {
        name: "shop",
        match: { pathPrefix: "/shop" },
        stable: { version: "v1", targets: [target] },
        strategy: strategy([
          { setWeight: 20 },
          { analysis: { templates: ["errors"] } },
          { pause: {} },
        ]),
      },
      {
        name: "other",
        match: { pathPrefix: "/other" },
        stable: { version: "v1", targets: [target] },
        strategy: strategy([{ pause: {} }]),
      },
    ],
    analysisTemplates: [
      {
        name: "errors",
        metrics: [
          {
            name: "error-rate",
            interval: "1s",
            count: 3,
            provider: { builtin: { signal: "errorRate" as const } },
          },
        ],
      },
    ],
  };
}

describe("the event stream", () => {
  let upstream: Upstream;
  let api: TestAdmin;
  let clock: ManualClock;
  let baseline: number;
  const open: SseClient[] = [];

  const stream = async (path: string, headers: Record<string, string> = {}) => {
    const c = await SseClient.open(api.admin, path, api.operatorToken, headers);
    open.push(c);
    return c;
  };
  const command = async (path: string, body: unknown = {}) => {
    const res = await api.call("POST", path, { token: api.operatorToken, body });
    assert.ok(res.status < 300, res.text);
    return res.json;
  };
  const stored = (service: string, afterSeq: number) =>
    api.aviary.store.eventsOf(service, { afterSeq });
  const closeAll = async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
    for (const deadline = Date.now() + 5_000; api.aviary.hub.size > baseline; ) {
      assert.ok(Date.now() < deadline, "the server forgets closed streams");
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  before(async () => {
    upstream = await startUpstream("v1");
    clock = new ManualClock();
    // One token opens every stream here: its own limit (10) is raised so the global one shows.
    api = await startAdmin({
      spec: spec(upstream.url),
      clock,
      streams: { maxStreamsPerToken: 200 },
    });
    baseline = api.aviary.hub.size;
  });
  after(async () => {
    await closeAll();
    await api.close();
    await upstream.close();
  });

  it("sends a deploy's events live, only the service asked for, and measurements when analysis runs", async () => {
    const shop = await stream("/api/v1/stream?service=shop");
    const all = await stream("/api/v1/stream");
    assert.equal(shop.status, 200);
    const mark = (await api.aviary.store.eventsAfter(0)).at(-1)?.seq ?? 0;

    await command("/api/v1/services/shop/deploy", { version: "v2", targets: [upstream.url] });
    const expected = await stored("shop", mark);
    assert.ok(expected.some((e) => e.type === "rollout.started"));
    await shop.until("the deploy's events", () => shop.events.length === expected.length);
    assert.deepEqual(shop.events, expected);

    for (let i = 0; i < 5; i++) {
      clock.advance(1_000);
      await settle();
    }
    await shop.until("a measurement", () => shop.messages.some((m) => m.event === "measurement"));
    const measurement = JSON.parse(
      shop.messages.find((m) => m.event === "measurement")?.data ?? "",
    );
    assert.equal(measurement.service, "shop");
    assert.equal(measurement.rolloutId, expected[0]?.rolloutId);
    assert.equal(measurement.measurement.metric, "error-rate");
    assert.equal(measurement.runId, measurement.measurement.runId);
    assert.equal(
      shop.messages.find((m) => m.event === "measurement")?.id,
      undefined,
      "measurements carry no id",
    );

    await command("/api/v1/services/other/deploy", { version: "v2", targets: [upstream.url] });
    const others = await stored("other", mark);
    await all.until("the other service's events", () =>
      others.every((o) => all.events.some((e) => e.seq === o.seq)),
    );
    await settle();
    assert.ok(
      shop.events.every((e) => e.service === "shop"),
      "a service's stream has only its events",
    );
    assert.deepEqual(
      all.events,
      await api.aviary.store.eventsAfter(mark),
      "the unfiltered stream has every event, in order",
    );
    await closeAll();
  });

  it("replays exactly the missed events after a reconnect with Last-Event-ID, then goes on live without duplicates", async () => {
    const first = await stream("/api/v1/stream?service=shop");
    await command("/api/v1/services/shop/abort", { reason: "replay test" });
    await first.until("the abort", () => first.events.some((e) => e.type === "aborted"));
    const lastSeen = first.lastId;
    await first.close();

    // Missed while away.
    await command("/api/v1/services/shop/retry");
    const missed = await stored("shop", lastSeen);
    assert.ok(missed.length >= 2, "the retry made history");

    const again = await stream("/api/v1/stream?service=shop", {
      "last-event-id": String(lastSeen),
    });
    // A command racing the replay: committed while the replay may still be reading.
    const racing = command("/api/v1/services/shop/abort", { reason: "during the replay" });
    await racing;
    const everything = await stored("shop", lastSeen);
    await again.until(
      "the replay and the live abort",
      () => again.lastId === everything.at(-1)?.seq,
    );
    assert.deepEqual(again.events, everything, "every missed event once, in order, then live");

    const viaQuery = await stream(`/api/v1/stream?service=shop&after=${lastSeen}`);
    await viaQuery.until(
      "the replay via ?after=",
      () => viaQuery.lastId === everything.at(-1)?.seq,
    );
    assert.deepEqual(viaQuery.events, everything);
    await closeAll();
  });

  it("replays a long history at the client's pace while new events commit, each event once", async () => {
    const store = api.aviary.store;
    const commit = async () => {
      const event = await store.appendEvent({
        rolloutId: null,
        service: "bulk",
        at: clock.now(),
        type: "test.padding",
        actor: "controller",
        reason: "padding",
        phase: null,
        stepIndex: null,
        weight: null,
        data: { pad: "x".repeat(8 * 1024) },
      });
      api.aviary.hub.publish({ kind: "event", event });
    };
    const mark = (await store.eventsAfter(0)).at(-1)?.seq ?? 0;
    for (let i = 0; i < 1_500; i++) await commit();
    // 12 MiB of replay: the stream has to wait for the socket between pages.
    const client = await stream(`/api/v1/stream?after=${mark}`);
    for (let i = 0; i < 50; i++) {
      await commit();
      await settle(1);
    }
    const expected = await store.eventsAfter(mark, 10_000);
    assert.equal(expected.length, 1_550);
    await client.until("every event", () => client.lastId === expected.at(-1)?.seq);
    assert.deepEqual(
      client.events.map((e) => e.seq),
      expected.map((e) => e.seq),
    );
    await closeAll();
  });

  it("sends a heartbeat comment every 15 s of the clock", async () => {
    const quiet = await stream("/api/v1/stream?service=other");
    clock.advance(14_999);
    await settle();
    assert.ok(!quiet.messages.some((m) => m.comment === "heartbeat"));
    clock.advance(1);
    await quiet.until("a heartbeat", () => quiet.messages.some((m) => m.comment === "heartbeat"));
    clock.advance(15_000);
    await quiet.until(
      "a second heartbeat",
      () => quiet.messages.filter((m) => m.comment === "heartbeat").length === 2,
    );
    await closeAll();
  });

  it("refuses a bad Last-Event-ID and an unknown service as problems", async () => {
    const bad = await stream("/api/v1/stream", { "last-event-id": "yesterday" });
    await bad.finished;
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).detail, /^headers\.last-event-id: /);
    const unknown = await stream("/api/v1/stream?service=nope");
    await unknown.finished;
    assert.equal(unknown.status, 404);
    assert.equal(JSON.parse(unknown.body).code, "AVIARY_UNKNOWN_SERVICE");
    await closeAll();
  });

  it("keeps at most 100 streams: the 101st gets a 503 problem, and a freed slot is reused", async () => {
    const hundred = await Promise.all(
      Array.from({ length: 100 }, () => stream("/api/v1/stream?service=other")),
    );
    assert.ok(hundred.every((c) => c.status === 200));
    const extra = await stream("/api/v1/stream");
    await extra.finished;
    assert.equal(extra.status, 503);
    const problem = JSON.parse(extra.body);
    assert.equal(problem.code, "AVIARY_TOO_MANY_STREAMS");
    assert.match(problem.detail, /100 event streams are open/);

    await hundred[0]?.close();
    for (const deadline = Date.now() + 5_000; api.aviary.hub.size > baseline + 99; ) {
      assert.ok(Date.now() < deadline, "the server notices a closed stream");
      await new Promise((r) => setTimeout(r, 5));
    }
    const freed = await stream("/api/v1/stream");
    assert.equal(freed.status, 200);
    await closeAll();
  });

  it("drops a client that stops reading once over 1 MiB is waiting for it, not one that reads", async () => {
    const reader = await stream("/api/v1/stream?service=shop");
    const socket = connect(Number(api.admin.split(":").at(-1)), "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    socket.write(
      `GET /api/v1/stream?service=shop HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${api.operatorToken}\r\n\r\n`,
    );
    socket.pause();
    for (const deadline = Date.now() + 5_000; api.aviary.hub.size < baseline + 2; ) {
      assert.ok(Date.now() < deadline, "the stream opened");
      await new Promise((r) => setTimeout(r, 5));
    }
    const pad = "x".repeat(256 * 1024);
    let published = 0;
    while (api.aviary.hub.size > baseline + 1 && published < 400) {
      api.aviary.hub.publish({
        kind: "measurement",
        service: "shop",
        rolloutId: "r",
        runId: "run",
        measurement: {
          seq: published,
          runId: "run",
          metric: "padding",
          phase: "Inconclusive",
          value: null,
          evidence: { pad },
          message: "",
          startedAt: 0,
          finishedAt: 0,
        },
      });
      published++;
      await settle(2);
    }
    assert.equal(
      api.aviary.hub.size,
      baseline + 1,
      `the slow client is dropped (${published} sent)`,
    );
    assert.ok(published > 4, `not before 1 MiB was waiting (dropped after ${published} × 256 KiB)`);
    await reader.until(
      "every padding message",
      () => reader.messages.filter((m) => m.event === "measurement").length === published,
    );
    socket.destroy();
    await closeAll();
  });
});

describe("closing the server with streams open", () => {
  it("ends every stream cleanly and close() returns", async () => {
    const api = await startAdmin();
    const clients = await Promise.all(
      [1, 2, 3].map(() => SseClient.open(api.admin, "/api/v1/stream", api.operatorToken)),
    );
    assert.ok(clients.every((c) => c.status === 200));
    assert.equal(api.aviary.hub.size >= 3, true);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      api.close(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("close() hung on open streams")), 10_000);
      }),
    ]);
    clearTimeout(timer);
    assert.deepEqual(await Promise.all(clients.map((c) => c.finished)), ["end", "end", "end"]);
    assert.equal(api.aviary.hub.size, 0);
  });
});
