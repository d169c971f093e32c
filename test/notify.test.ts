/**
 * Notifications and gate calls over real HTTP: receivers on 127.0.0.1:0 that verify
 * signatures, fail on purpose, hold requests or are not there at all. Back-off waits run on a
 * ManualClock; only undici's per-attempt timeouts are real time, and kept tiny.
 */

import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type DestinationStream, pino } from "pino";
import { Registry } from "prom-client";
import { request } from "undici";
import { AviaryError } from "../src/errors.js";
import { EventHub } from "../src/events/hub.js";
import { Deliverer, type DeliveryJob } from "../src/notify/delivery.js";
import { callGate, type GatePayload } from "../src/notify/gate-client.js";
import { CATCH_UP_FLOOR_MS, deliveryIdOf, startNotifier } from "../src/notify/notifier.js";
import { SIGNATURE_HEADER, verifySignature } from "../src/notify/signature.js";
import {
  ANALYSIS_ABORT,
  AT,
  OPERATOR_ABORT,
  PROMOTED,
  sampleEvent,
} from "../src/notify/test-events.js";
import { Gate, Notification } from "../src/spec/notify.js";
import { ManualClock } from "../src/util/clock.js";
import type { Logger } from "../src/util/log.js";
import { VERSION } from "../src/version.js";
import { deadPort, startUpstream, type Upstream } from "./fixtures.js";

const SECRET = "whsec_do-not-log-me-7f3a";
/** A path like a chat webhook's, whose token must never reach a log line. */
const SECRET_PATH = "/services/T0001/B0002/hookTokenDoNotLog";

interface Received {
  headers: IncomingMessage["headers"];
  body: string;
}

/** A receiver that records each request and answers with `answer(n)` (n from 0). */
async function receiver(
  answer: (n: number, req: Received, res: ServerResponse) => void = (_n, _r, res) => {
    res.writeHead(200).end("ok");
  },
): Promise<Upstream & { got: Received[] }> {
  const got: Received[] = [];
  const up = await startUpstream("receiver", (req, res, body) => {
    const r = { headers: req.headers, body: body.toString("utf8") };
    got.push(r);
    answer(got.length - 1, r, res);
  });
  return Object.assign(up, { got });
}

/** Waits (real time, polling) for a condition that depends on I/O. */
async function until(cond: () => boolean, what: string, limitMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Lets I/O settle, and advances the manual clock through any back-off wait, until cond. */
async function drive(clock: ManualClock, cond: () => boolean, what: string): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > 10_000) throw new Error(`timed out driving to ${what}`);
    if (clock.pendingTimers > 0) clock.advance(60_000);
    else await sleep(5);
  }
}

/** A pino logger writing into an array, at debug, with no redaction to hide behind. */
interface LogEntry {
  level: number;
  msg: string;
  [field: string]: unknown;
}

function capture(): { log: Logger; lines: string[]; entries: () => LogEntry[] } {
  const lines: string[] = [];
  const into: DestinationStream = { write: (s: string) => lines.push(s) };
  const log: Logger = pino({ level: "debug" }, into);
  return { log, lines, entries: () => lines.map((l) => JSON.parse(l) as LogEntry) };
}

function job(url: string, over: Partial<DeliveryJob> = {}): DeliveryJob {
  return {
    notification: "ops",
    url,
    event: "aborted",
    deliveryId: "dlv-1",
    body: JSON.stringify({ hello: "world" }),
    timeoutMs: 2_000,
    retries: 5,
    ...over,
  };
}

const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

function track<T extends { close(): Promise<void> }>(x: T): T {
  closers.push(() => x.close());
  return x;
}

describe("webhook delivery", () => {
  it("signs each delivery so a receiver can verify it, and refuses replays and tampering", async () => {
    const clock = new ManualClock(Date.now());
    const verdicts: string[] = [];
    const rx = track(
      await receiver((_n, r, res) => {
        const v = verifySignature(
          SECRET,
          r.headers[SIGNATURE_HEADER] as string | undefined,
          r.body,
          clock.now(),
        );
        verdicts.push(v.ok ? "ok" : v.reason);
        res.writeHead(v.ok ? 204 : 401).end();
      }),
    );
    const d = track(new Deliverer({ clock, log: capture().log }));
    d.enqueue(job(`${rx.url}/hook`, { secret: SECRET, event: "analysis.failed" }));
    await until(() => d.stats().ops?.delivered === 1, "the delivery");
    assert.deepEqual(verdicts, ["ok"]);
    const first = rx.got[0]!;
    assert.equal(first.headers["x-aviary-event"], "analysis.failed");
    assert.equal(first.headers["x-aviary-delivery"], "dlv-1");
    assert.equal(first.headers["user-agent"], `aviary/${VERSION}`);
    assert.equal(first.headers["content-type"], "application/json");
    assert.equal(first.body, JSON.stringify({ hello: "world" }));

    const replay = async (body: string) => {
      const res = await request(`${rx.url}/hook`, {
        method: "POST",
        headers: { [SIGNATURE_HEADER]: first.headers[SIGNATURE_HEADER] as string },
        body,
      });
      await res.body.dump();
      return res.statusCode;
    };
    assert.equal(await replay(first.body.replace("world", "w0rld")), 401);
    assert.equal(verdicts.at(-1), "signature does not match");
    clock.advance(6 * 60_000);
    assert.equal(await replay(first.body), 401);
    assert.equal(verdicts.at(-1), "timestamp too old (possible replay)");
  });

  it("retries 503 with the same delivery id, doubling the wait, and counts one delivery", async () => {
    const clock = new ManualClock(Date.now());
    const verdicts: boolean[] = [];
    const rx = track(
      await receiver((n, r, res) => {
        // A 30 s tolerance: each attempt must be signed when it is made, not when queued.
        const sig = r.headers[SIGNATURE_HEADER] as string;
        verdicts.push(verifySignature(SECRET, sig, r.body, clock.now(), 30_000).ok);
        res.writeHead(n < 2 ? 503 : 200).end(n < 2 ? "busy" : "ok");
      }),
    );
    const registry = new Registry();
    const logs = capture();
    const d = track(new Deliverer({ clock, log: logs.log, registry, random: () => 0.5 }));
    d.enqueue(job(rx.url, { deliveryId: "same-every-time", secret: SECRET }));
    await drive(clock, () => d.stats().ops?.delivered === 1, "the third attempt");
    assert.deepEqual(
      rx.got.map((r) => r.headers["x-aviary-delivery"]),
      ["same-every-time", "same-every-time", "same-every-time"],
    );
    assert.deepEqual(verdicts, [true, true, true], "re-signed at each attempt");
    assert.deepEqual(d.stats().ops, {
      delivered: 1,
      failed: 0,
      dropped: 0,
      queued: 0,
      busy: false,
    });
    const retries = logs.entries().filter((e) => e.retryInMs !== undefined);
    assert.deepEqual(
      retries.map((e) => [e.attempt, e.status, e.retryInMs, e.level]),
      [
        [1, 503, 1000, 40],
        [2, 503, 2000, 40],
      ],
    );
    const text = await registry.metrics();
    assert.match(text, /aviary_notifications_total\{notification="ops",outcome="delivered"\} 1\n/);
    assert.match(text, /aviary_notifications_total\{notification="ops",outcome="failed"\} 0\n/);
  });

  it("honours Retry-After on 429", async () => {
    const clock = new ManualClock(Date.now());
    const rx = track(
      await receiver((n, _r, res) => {
        if (n === 0) res.writeHead(429, { "retry-after": "7" }).end();
        else res.writeHead(200).end();
      }),
    );
    const d = track(new Deliverer({ clock, log: capture().log }));
    d.enqueue(job(rx.url));
    await until(() => clock.pendingTimers === 1, "the retry to be scheduled");
    clock.advance(6_999);
    assert.equal(clock.pendingTimers, 1, "still waiting: 7 s were asked for");
    clock.advance(1);
    await until(() => d.stats().ops?.delivered === 1, "the retry");
    assert.equal(rx.got.length, 2);
  });

  it("does not retry a 400", async () => {
    const clock = new ManualClock(Date.now());
    const rx = track(await receiver((_n, _r, res) => res.writeHead(400).end("bad payload")));
    const logs = capture();
    const d = track(new Deliverer({ clock, log: logs.log }));
    d.enqueue(job(rx.url));
    await until(() => d.stats().ops?.failed === 1, "the refusal");
    assert.equal(clock.pendingTimers, 0, "no retry scheduled");
    assert.equal(rx.got.length, 1);
    const warn = logs.entries().find((e) => e.level === 40);
    assert.equal(warn?.status, 400);
    assert.equal(warn?.msg, "notification refused by its receiver; not retried");
  });

  it("retries a dead port, then counts the delivery failed", async () => {
    const clock = new ManualClock(Date.now());
    const url = await deadPort();
    const registry = new Registry();
    const logs = capture();
    const d = track(new Deliverer({ clock, log: logs.log, registry }));
    d.enqueue(job(url, { retries: 2 }));
    await drive(clock, () => d.stats().ops?.failed === 1, "retries to run out");
    const warns = logs.entries().filter((e) => e.level === 40);
    assert.deepEqual(
      warns.map((e) => [e.attempt, e.status, e.error]),
      [
        [1, null, "ECONNREFUSED"],
        [2, null, "ECONNREFUSED"],
        [3, null, "ECONNREFUSED"],
      ],
    );
    assert.match(warns.at(-1)?.msg ?? "", /failed after 3 attempts; giving up/);
    assert.match(
      await registry.metrics(),
      /aviary_notifications_total\{notification="ops",outcome="failed"\} 1\n/,
    );
  });

  it("gives up on an attempt that takes longer than its timeout", async () => {
    const clock = new ManualClock(Date.now());
    const rx = track(await receiver(() => {})); // never answers
    const logs = capture();
    const d = track(new Deliverer({ clock, log: logs.log }));
    d.enqueue(job(rx.url, { timeoutMs: 200, retries: 0 }));
    await until(() => d.stats().ops?.failed === 1, "the timeout");
    assert.equal(logs.entries().find((e) => e.level === 40)?.error, "timeout");
  });

  it("drops the oldest waiting delivery when a queue is full", async () => {
    const clock = new ManualClock(Date.now());
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const rx = track(
      await receiver((n, _r, res) => {
        if (n === 0) void held.then(() => res.writeHead(200).end());
        else res.writeHead(200).end();
      }),
    );
    const logs = capture();
    const d = track(new Deliverer({ clock, log: logs.log, queueLimit: 3 }));
    d.enqueue(job(rx.url, { deliveryId: "1" }));
    await until(() => rx.got.length === 1, "the first delivery to be in flight");
    for (const id of ["2", "3", "4", "5", "6"]) d.enqueue(job(rx.url, { deliveryId: id }));
    assert.deepEqual(d.stats().ops, { delivered: 0, failed: 0, dropped: 2, queued: 3, busy: true });
    const drops = logs.entries().filter((e) => e.msg.startsWith("notification queue full"));
    assert.equal(drops.length, 1, "one warning, not one per drop");
    assert.equal(drops[0]?.delivery, "2");
    release();
    await until(() => d.stats().ops?.delivered === 4, "the rest");
    assert.deepEqual(
      rx.got.map((r) => r.headers["x-aviary-delivery"]),
      ["1", "4", "5", "6"],
    );
  });

  it("delivers in order, one at a time per endpoint, while endpoints go independently", async () => {
    const clock = new ManualClock(Date.now());
    let concurrent = 0;
    let most = 0;
    const slow = track(
      await receiver((_n, _r, res) => {
        concurrent++;
        most = Math.max(most, concurrent);
        setTimeout(() => {
          concurrent--;
          res.writeHead(200).end();
        }, 2);
      }),
    );
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const stuck = track(
      await receiver((_n, _r, res) => void held.then(() => res.writeHead(200).end())),
    );
    const fast = track(await receiver());
    const d = track(new Deliverer({ clock, log: capture().log }));
    d.enqueue(job(stuck.url, { notification: "stuck" }));
    for (let i = 0; i < 20; i++) {
      d.enqueue(job(slow.url, { notification: "slow", deliveryId: `s${i}` }));
    }
    d.enqueue(job(fast.url, { notification: "fast" }));
    await until(
      () => d.stats().slow?.delivered === 20 && d.stats().fast?.delivered === 1,
      "slow and fast",
    );
    assert.deepEqual(
      slow.got.map((r) => r.headers["x-aviary-delivery"]),
      Array.from({ length: 20 }, (_, i) => `s${i}`),
    );
    assert.equal(most, 1, "never two requests at once to one endpoint");
    assert.equal(d.stats().stuck?.busy, true, "the stuck receiver held up nobody");
    release();
    await until(() => d.stats().stuck?.delivered === 1, "the stuck one");
  });

  it("a second deliverer on the same registry (a restarted notifier) keeps counting", async () => {
    const clock = new ManualClock(Date.now());
    const rx = track(await receiver());
    const registry = new Registry();
    const first = new Deliverer({ clock, log: capture().log, registry });
    first.enqueue(job(rx.url));
    await until(() => first.stats().ops?.delivered === 1, "the first delivery");
    await first.close();
    const second = track(new Deliverer({ clock, log: capture().log, registry }));
    second.enqueue(job(rx.url));
    await until(() => second.stats().ops?.delivered === 1, "the second delivery");
    assert.match(
      await registry.metrics(),
      /aviary_notifications_total\{notification="ops",outcome="delivered"\} 2\n/,
    );
  });

  it("close cancels back-off waits and counts what it abandons as dropped", async () => {
    const clock = new ManualClock(Date.now());
    const rx = track(await receiver((_n, _r, res) => res.writeHead(503).end()));
    const d = new Deliverer({ clock, log: capture().log });
    for (const id of ["a", "b", "c"]) d.enqueue(job(rx.url, { deliveryId: id }));
    await until(() => clock.pendingTimers === 1, "the first retry to be scheduled");
    await d.close();
    assert.equal(clock.pendingTimers, 0);
    assert.deepEqual(d.stats().ops, {
      delivered: 0,
      failed: 0,
      dropped: 3,
      queued: 0,
      busy: false,
    });
    d.enqueue(job(rx.url, { deliveryId: "late" }));
    assert.equal(d.stats().ops?.dropped, 4, "nothing is sent after close");
    assert.equal(rx.got.length, 1);
  });
});

// The notifier's clocks start at the sample events' time: an event hours old is not announced.
describe("notifier", () => {
  const notification = (input: Record<string, unknown>) => Notification.parse(input);

  it("gives a delivery the same id on every instance: from the event and the notification", async () => {
    const clock = new ManualClock(AT);
    const rx = track(await receiver());
    const notifications = [
      notification({ name: "a", url: rx.url }),
      notification({ name: "b", url: rx.url }),
    ];
    // Two notifiers, as on an old and a new leader, sending the same event.
    for (let i = 0; i < 2; i++) {
      const n = startNotifier({ clock, log: capture().log, notifications });
      n.send(PROMOTED);
      await until(() => n.stats().b?.delivered === 1, "both deliveries");
      await n.close();
    }
    const ids = rx.got.map((r) => r.headers["x-aviary-delivery"] as string);
    assert.equal(ids.length, 4);
    assert.equal(new Set(ids).size, 2, `one id per notification: ${ids.join(" ")}`);
    for (const r of rx.got) {
      assert.equal((JSON.parse(r.body) as { id: string }).id, r.headers["x-aviary-delivery"]);
      assert.match(
        r.headers["x-aviary-delivery"] as string,
        /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
    }
    assert.equal(deliveryIdOf(PROMOTED, "a"), deliveryIdOf({ ...PROMOTED }, "a"));
    assert.notEqual(deliveryIdOf(PROMOTED, "a"), deliveryIdOf({ ...PROMOTED, seq: 1 }, "a"));
    assert.notEqual(
      deliveryIdOf(PROMOTED, "a"),
      deliveryIdOf({ ...PROMOTED, at: PROMOTED.at + 1 }, "a"),
      "a store restored from a backup reuses seqs, not times",
    );
  });

  it("skips events older than the notification's horizon, counted, in one log line", async () => {
    const clock = new ManualClock(AT + CATCH_UP_FLOOR_MS + 60_000);
    const rx = track(await receiver());
    const logs = capture();
    const n = track(
      startNotifier({
        clock,
        log: logs.log,
        prometheus: new Registry(),
        notifications: [notification({ name: "all", url: rx.url })],
      }),
    );
    const settled: number[] = [];
    for (const seq of [1, 2, 3]) n.send(sampleEvent({ seq }), () => settled.push(seq));
    const fresh = sampleEvent({ seq: 4, at: clock.now() - CATCH_UP_FLOOR_MS + 1_000 });
    n.send(fresh, () => settled.push(4));
    await until(() => settled.length === 4, "every event settled");
    assert.deepEqual(settled, [1, 2, 3, 4]);
    assert.deepEqual(
      rx.got.map((r) => (JSON.parse(r.body) as { seq: number }).seq),
      [4],
    );
    assert.equal(n.stats().all?.skipped, 3);
    const skipped = logs.entries().filter((e) => e.skipped !== undefined);
    assert.equal(skipped.length, 1, "one line for the run");
    assert.equal(skipped[0]?.skipped, 3);
    assert.equal(skipped[0]?.fromSeq, 1);
    assert.equal(skipped[0]?.toSeq, 3);
    assert.equal(
      skipped[0]?.horizonMs,
      CATCH_UP_FLOOR_MS,
      "the floor: the default retry horizon is shorter",
    );
  });

  it("sends each event to the notifications whose filters want it", async () => {
    const clock = new ManualClock(AT);
    const rx = track(await receiver());
    const hub = new EventHub();
    const n = track(
      startNotifier({
        hub,
        clock,
        log: capture().log,
        notifications: [
          notification({
            name: "failures",
            url: `${rx.url}/failures`,
            events: ["analysis.failed"],
          }),
          notification({ name: "aborts", url: `${rx.url}/aborts`, events: ["aborted"] }),
          notification({ name: "cart", url: `${rx.url}/cart`, services: ["cart"] }),
          notification({ name: "all", url: `${rx.url}/all` }),
        ],
      }),
    );
    const cartWeight = sampleEvent({ service: "cart", seq: 50 });
    hub.publish({ kind: "event", event: ANALYSIS_ABORT });
    hub.publish({ kind: "event", event: OPERATOR_ABORT });
    hub.publish({ kind: "event", event: cartWeight });
    hub.publish({
      kind: "measurement",
      service: "shop",
      rolloutId: "r",
      runId: "r:step1:1",
      measurement: {} as never,
    });
    await until(() => rx.got.length === 7, "seven deliveries");
    await until(() => rx.received.length === 7, "seven recorded");
    const to = (path: string) =>
      rx.got
        .filter((_r, i) => rx.received[i]?.url === path)
        .map((r) => JSON.parse(r.body) as { event: string; seq: number; service: string });
    assert.deepEqual(
      to("/failures").map((b) => b.event),
      ["analysis.failed"],
    );
    assert.deepEqual(
      to("/aborts").map((b) => b.seq),
      [ANALYSIS_ABORT.seq, OPERATOR_ABORT.seq],
    );
    assert.deepEqual(
      to("/cart").map((b) => b.service),
      ["cart"],
    );
    assert.deepEqual(
      to("/all").map((b) => b.seq),
      [ANALYSIS_ABORT.seq, OPERATOR_ABORT.seq, cartWeight.seq],
    );
    await until(() => n.stats().all?.delivered === 3, "the deliveries to be counted");
    assert.equal(n.stats().failures?.delivered, 1);
  });

  it("signs with the secret from the environment and formats for chat", async () => {
    const clock = new ManualClock(AT);
    const rx = track(await receiver());
    const hub = new EventHub();
    track(
      startNotifier({
        hub,
        clock,
        log: capture().log,
        env: { SLACK_URL: `${rx.url}${SECRET_PATH}`, HOOK_KEY: `${SECRET}\n` },
        versionsOf: () => ({ stable: "v1", canary: "v2" }),
        notifications: [
          notification({
            name: "slack",
            urlFrom: { env: "SLACK_URL" },
            format: "slack",
            secret: { env: "HOOK_KEY" },
            events: ["promoted"],
          }),
        ],
      }),
    );
    hub.publish({ kind: "event", event: PROMOTED });
    await until(() => rx.got.length === 1, "the slack message");
    assert.equal(rx.received[0]?.url, SECRET_PATH);
    const r = rx.got[0]!;
    assert.equal(r.headers["x-aviary-event"], "promoted");
    const v = verifySignature(SECRET, r.headers[SIGNATURE_HEADER] as string, r.body, clock.now());
    assert.deepEqual(v, { ok: true }, "signed with the trimmed secret");
    const body = JSON.parse(r.body) as { text: string; blocks: Array<{ type: string }> };
    assert.equal(body.text, "shop: canary promoted: promoted v2: all steps passed");
    assert.deepEqual(
      body.blocks.map((b) => b.type),
      ["header", "section", "context"],
    );
    assert.match(r.body, /v1 → v2/, "versions from versionsOf");
  });

  it("logs an event it cannot format and goes on with the next", async () => {
    const clock = new ManualClock(AT);
    const rx = track(await receiver());
    const hub = new EventHub((err) => assert.fail(`the hub saw ${String(err)}`));
    const logs = capture();
    const n = track(
      startNotifier({
        hub,
        clock,
        log: logs.log,
        notifications: [notification({ name: "all", url: rx.url })],
      }),
    );
    // A BigInt cannot be written as JSON: formatting this event throws.
    hub.publish({ kind: "event", event: sampleEvent({ seq: 60, data: { n: 1n } }) });
    hub.publish({ kind: "event", event: sampleEvent({ seq: 61 }) });
    await until(() => n.stats().all?.delivered === 1, "the second event");
    assert.deepEqual(
      rx.got.map((r) => (JSON.parse(r.body) as { seq: number }).seq),
      [61],
    );
    const error = logs.entries().find((e) => e.level === 50);
    assert.equal(error?.notification, "all");
    assert.equal(error?.seq, 60);
  });

  it("fails at start, naming the notification and the variable, when a secret is missing", () => {
    const start = (env: Record<string, string>) =>
      startNotifier({
        hub: new EventHub(),
        clock: new ManualClock(),
        log: capture().log,
        env,
        notifications: [
          notification({ name: "plain", url: "http://127.0.0.1:1/x" }),
          notification({
            name: "chat",
            urlFrom: { env: "AVIARY_TEST_CHAT_URL" },
            secret: { env: "AVIARY_TEST_CHAT_KEY" },
          }),
        ],
      });
    assert.throws(
      () => start({}),
      (err: unknown) =>
        err instanceof AviaryError &&
        err.code === "AVIARY_NOTIFICATION_INVALID" &&
        err.message ===
          "notifications[1] (chat).urlFrom: environment variable AVIARY_TEST_CHAT_URL is not set",
    );
    assert.throws(
      () => start({ AVIARY_TEST_CHAT_URL: "http://127.0.0.1:1/hook" }),
      /^AviaryError: notifications\[1\] \(chat\)\.secret: environment variable AVIARY_TEST_CHAT_KEY is not set$/,
    );
    assert.throws(
      () => start({ AVIARY_TEST_CHAT_URL: "hooks.example/T1/sekrit", AVIARY_TEST_CHAT_KEY: "k" }),
      (err: unknown) =>
        err instanceof AviaryError &&
        err.message === "notifications[1] (chat).urlFrom: not an http:// or https:// URL" &&
        !err.message.includes("sekrit"),
    );
  });

  it("never logs the URL or the secret, whatever goes wrong", async () => {
    const clock = new ManualClock(AT);
    const flaky = track(
      await receiver((n, _r, res) => res.writeHead(n === 0 ? 503 : 400).end(SECRET_PATH)),
    );
    const dead = await deadPort();
    const logs = capture();
    const hub = new EventHub();
    const n = startNotifier({
      hub,
      clock,
      log: logs.log,
      env: { FLAKY: `${flaky.url}${SECRET_PATH}`, DEAD: `${dead}${SECRET_PATH}`, KEY: SECRET },
      delivery: { queueLimit: 1 },
      notifications: [
        notification({ name: "flaky", urlFrom: { env: "FLAKY" }, secret: { env: "KEY" } }),
        notification({
          name: "dead",
          urlFrom: { env: "DEAD" },
          secret: { env: "KEY" },
          retries: 1,
        }),
      ],
    });
    for (const event of [ANALYSIS_ABORT, OPERATOR_ABORT, PROMOTED]) {
      hub.publish({ kind: "event", event });
    }
    await drive(
      clock,
      () => (n.stats().flaky?.failed ?? 0) >= 1 && (n.stats().dead?.failed ?? 0) >= 1,
      "both to fail",
    );
    await n.close();
    const stats = n.stats();
    assert.ok((stats.flaky?.dropped ?? 0) >= 1 && (stats.dead?.dropped ?? 0) >= 1, "some dropped");
    assert.ok(logs.lines.length >= 5, `logged ${logs.lines.length} lines`);
    for (const line of logs.lines) {
      assert.ok(!line.includes("hookTokenDoNotLog"), line);
      assert.ok(!line.includes(SECRET), line);
      assert.ok(!line.includes(flaky.url) && !line.includes(dead), line);
    }
    const fields = logs.entries().filter((e) => e.attempt !== undefined);
    assert.ok(fields.some((e) => e.notification === "flaky" && e.status === 503));
    assert.ok(fields.some((e) => e.notification === "dead" && e.error === "ECONNREFUSED"));
    assert.ok(fields.every((e) => typeof e.event === "string"));
  });
});

describe("gate client", () => {
  const gate = (input: Record<string, unknown>) =>
    Gate.parse({ name: "qa", type: "confirm-promotion", ...input });
  const payload: GatePayload = {
    name: "qa",
    type: "confirm-promotion",
    service: "shop",
    rolloutId: "r1",
    phase: "Promoting",
    stable: "v1",
    canary: "v2",
    weight: 100,
    stepIndex: 4,
    metadata: { ticket: "OPS-1" },
  };

  it("opens on 2xx and signs the request", async () => {
    const rx = track(await receiver((_n, _r, res) => res.writeHead(202).end("approved by qa")));
    const answer = await callGate(
      gate({ url: `${rx.url}/gate`, secret: { env: "GATE_KEY" }, metadata: { ticket: "OPS-1" } }),
      payload,
      { env: { GATE_KEY: SECRET } },
    );
    assert.deepEqual(answer, {
      open: true,
      status: 202,
      message: "hook answered 202: approved by qa",
    });
    const r = rx.got[0]!;
    assert.equal(r.headers["x-aviary-event"], "gate.confirm-promotion");
    assert.ok(typeof r.headers["x-aviary-delivery"] === "string");
    assert.deepEqual(
      verifySignature(SECRET, r.headers[SIGNATURE_HEADER] as string, r.body, Date.now()),
      {
        ok: true,
      },
    );
    assert.deepEqual(JSON.parse(r.body), payload);
  });

  it("stays shut on 500 with the status and the start of the answer, never the URL", async () => {
    const rx = track(
      await receiver((_n, _r, res) =>
        res.writeHead(500).end(`failed calling ${rx.url}${SECRET_PATH}\n${"x".repeat(5000)}`),
      ),
    );
    const answer = await callGate(gate({ url: `${rx.url}${SECRET_PATH}` }), payload);
    assert.equal(answer.open, false);
    assert.equal(answer.status, 500);
    assert.match(answer.message, /^hook answered 500: failed calling \[url\] x+…$/);
    assert.ok(answer.message.length <= 230, `${answer.message.length}`);
    assert.ok(!answer.message.includes("hookTokenDoNotLog"));
  });

  it("stays shut on a timeout or a dead port", async () => {
    const rx = track(await receiver(() => {}));
    assert.deepEqual(await callGate(gate({ url: rx.url, timeout: "200ms" }), payload), {
      open: false,
      status: null,
      message: "hook gave no answer within 200ms",
    });
    const dead = await deadPort();
    assert.deepEqual(
      await callGate(gate({ urlFrom: { env: "G" } }), payload, { env: { G: dead } }),
      {
        open: false,
        status: null,
        message: "hook unreachable (ECONNREFUSED)",
      },
    );
  });

  it("says it is cancelled when the caller aborts", async () => {
    const rx = track(await receiver(() => {}));
    const ac = new AbortController();
    const pending = callGate(gate({ url: rx.url }), payload, { signal: ac.signal });
    await until(() => rx.got.length === 1, "the call to arrive");
    ac.abort();
    assert.deepEqual(await pending, { open: false, status: null, message: "call cancelled" });
  });

  it("refuses to call a gate that has no hook, or whose secret is missing", async () => {
    await assert.rejects(
      callGate(gate({}), payload),
      (err: unknown) =>
        err instanceof AviaryError &&
        err.code === "AVIARY_GATE_NO_HOOK" &&
        /opens only through the API/.test(err.message),
    );
    await assert.rejects(
      callGate(gate({ urlFrom: { env: "MISSING_GATE_URL" } }), payload, { env: {} }),
      /gate qa\.urlFrom: environment variable MISSING_GATE_URL is not set/,
    );
  });
});
