import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RolloutEvent } from "./api.js";
import { ManualTimers } from "./fixtures.js";
import {
  BASE_BACKOFF_MS,
  backoffDelay,
  EventStream,
  MAX_BACKOFF_MS,
  type StreamStatus,
} from "./stream.js";

interface Call {
  url: string;
  headers: Record<string, string>;
  /** Writes SSE text to this connection. */
  write(text: string): void;
  end(): void;
  signal: AbortSignal;
}

/** A fetch whose answers the test scripts: a status, or an open stream it writes to. */
function fakeFetch(answers: Array<number | "stream" | "network-error">) {
  const calls: Call[] = [];
  const encoder = new TextEncoder();
  const fn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const answer = answers.shift() ?? "network-error";
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
    });
    const signal = init?.signal as AbortSignal;
    signal.addEventListener("abort", () => {
      try {
        controller.error(Object.assign(new Error("aborted"), { name: "AbortError" }));
      } catch {
        // already closed
      }
    });
    calls.push({
      url: String(input),
      headers: init?.headers as Record<string, string>,
      write: (text) => controller.enqueue(encoder.encode(text)),
      end: () => controller.close(),
      signal,
    });
    if (answer === "network-error") throw new TypeError("fetch failed");
    if (answer === "stream")
      return new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } });
    return new Response(
      JSON.stringify({ title: "x", status: answer, detail: `refused with ${answer}`, code: "X" }),
      { status: answer, headers: { "content-type": "application/problem+json" } },
    );
  }) as typeof fetch;
  return { fn, calls };
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

const event = (seq: number): RolloutEvent => ({
  seq,
  rolloutId: "r1",
  service: "shop",
  at: 1_000 + seq,
  type: "weight.set",
  actor: "controller",
  reason: "",
  phase: "Progressing",
  stepIndex: 0,
  weight: seq,
  data: {},
});
const sse = (e: RolloutEvent) =>
  `id: ${e.seq}\nevent: rollout-event\ndata: ${JSON.stringify(e)}\n\n`;

function open(answers: Array<number | "stream" | "network-error">, lastEventId?: string) {
  const timers = new ManualTimers();
  const fetch = fakeFetch(answers);
  const events: number[] = [];
  const measurements: string[] = [];
  const statuses: StreamStatus[] = [];
  const stream = new EventStream({
    url: "/api/v1/stream?service=shop",
    token: () => "secret-token",
    ...(lastEventId !== undefined ? { lastEventId } : {}),
    onEvent: (e) => events.push(e.seq),
    onMeasurement: (m) => measurements.push(m.runId),
    onStatus: (s) => statuses.push(s),
    fetch: fetch.fn,
    timers,
    random: () => 0.5,
  });
  stream.start();
  return { stream, timers, calls: fetch.calls, events, measurements, statuses };
}

describe("event stream client", () => {
  it("sends the token and Last-Event-ID as headers, never in the URL, and delivers events and measurements", async () => {
    const s = open(["stream"], "40");
    await settle();
    const call = s.calls[0]!;
    assert.equal(call.url, "/api/v1/stream?service=shop");
    assert.equal(call.headers.authorization, "Bearer secret-token");
    assert.equal(call.headers["last-event-id"], "40");
    assert.equal(call.headers.accept, "text/event-stream");
    call.write(": aviary event stream\nretry: 2000\n\n");
    call.write(sse(event(41)));
    call.write('event: measurement\ndata: {"runId":"r1:step2:1","measurement":{}}\n\n');
    call.write("event: rollout-event\ndata: {not json\n\n");
    call.write(sse(event(42)).slice(0, 20));
    await settle();
    assert.deepEqual(s.events, [41]);
    call.write(sse(event(42)).slice(20));
    await settle();
    assert.deepEqual(s.events, [41, 42]);
    assert.deepEqual(s.measurements, ["r1:step2:1"]);
    assert.equal(s.stream.lastEventId, "42");
    assert.deepEqual(s.statuses.slice(0, 2), [
      { kind: "connecting" },
      { kind: "live", resumed: false },
    ]);
    s.stream.close();
  });

  it("reconnects after the stream ends, asking to replay after the last event, with the server's retry as base", async () => {
    const s = open(["stream", "stream"]);
    await settle();
    s.calls[0]!.write(`retry: 2000\n\n${sse(event(7))}`);
    s.calls[0]!.end();
    await settle();
    assert.deepEqual(s.statuses.at(-1), {
      kind: "reconnecting",
      inMs: 2000,
      why: "the stream ended",
    });
    s.timers.fire(2000);
    await settle();
    assert.equal(s.calls.length, 2);
    assert.equal(s.calls[1]!.headers["last-event-id"], "7");
    assert.deepEqual(s.statuses.at(-1), { kind: "live", resumed: true });
    s.stream.close();
  });

  it("backs off exponentially while the server is away, up to a cap, and starts over once connected", async () => {
    const s = open([503, "network-error", 503, 503, 503, 503, 503, "stream", 503]);
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      await settle();
      const last = s.statuses.at(-1);
      assert.equal(last?.kind, "reconnecting");
      const inMs = (last as { inMs: number }).inMs;
      waits.push(inMs);
      s.timers.fire(inMs);
    }
    assert.deepEqual(waits, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    assert.match((s.statuses[1] as { why: string }).why, /refused with 503/);
    await settle();
    assert.equal(s.statuses.at(-1)?.kind, "live");
    s.calls.at(-1)!.end();
    await settle();
    assert.deepEqual(s.statuses.at(-1), {
      kind: "reconnecting",
      inMs: BASE_BACKOFF_MS,
      why: "the stream ended",
    });
    s.stream.close();
  });

  it("stops for good when the token is refused, and says so", async () => {
    const s = open([401]);
    await settle();
    assert.deepEqual(s.statuses.at(-1), { kind: "unauthorized", detail: "refused with 401" });
    assert.equal(s.timers.pending.size, 0, "no reconnection is scheduled");
  });

  it("stops when the service is unknown", async () => {
    const s = open([404]);
    await settle();
    assert.deepEqual(s.statuses.at(-1), { kind: "failed", detail: "refused with 404" });
    assert.equal(s.timers.pending.size, 0);
  });

  it("treats a stream silent for longer than three heartbeats as dead and reconnects", async () => {
    const s = open(["stream", "stream"]);
    await settle();
    s.calls[0]!.write(sse(event(3)));
    await settle();
    s.timers.fire(45_000);
    await settle();
    assert.ok(s.calls[0]!.signal.aborted, "the silent connection was aborted");
    assert.equal(s.statuses.at(-1)?.kind, "reconnecting");
    s.timers.fire(1000);
    await settle();
    assert.equal(s.calls[1]!.headers["last-event-id"], "3");
    s.stream.close();
  });

  it("close() ends the connection and schedules nothing more", async () => {
    const s = open(["stream"]);
    await settle();
    s.stream.close();
    await settle();
    assert.ok(s.calls[0]!.signal.aborted);
    assert.equal(s.timers.pending.size, 0);
    assert.deepEqual(s.statuses.at(-1), { kind: "closed" });
  });

  it("computes delays that double, are capped, and are jittered by at most 20 %", () => {
    assert.equal(
      backoffDelay(0, 1000, () => 0.5),
      1000,
    );
    assert.equal(
      backoffDelay(3, 1000, () => 0.5),
      8000,
    );
    assert.equal(
      backoffDelay(40, 1000, () => 0.5),
      MAX_BACKOFF_MS,
    );
    assert.equal(
      backoffDelay(0, 1000, () => 0),
      800,
    );
    assert.equal(
      backoffDelay(0, 1000, () => 1),
      1200,
    );
  });
});
