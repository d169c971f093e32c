/**
 * The Node provider's reporting against a real local HTTP server standing in for the
 * tracking endpoint: bounded buffer, batches within the endpoint's limits, retry after a
 * failure with the counts kept, a refused batch dropped and counted, and nothing thrown into
 * the application whatever it passes to track().
 */

import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { OpenFeature, ProviderEvents, ProviderStatus } from "@openfeature/server-sdk";
import { Flag } from "../flags/schema.js";
import { AviaryProvider } from "./provider.js";
import { Reporter } from "./reporter.js";

interface Batch {
  exposures: Array<{ flag: string; variant: string; count: number }>;
  events: Array<{ name: string; flag: string; variant: string; count?: number; values?: number[] }>;
}

let server: Server;
let base: string;
let batches: Batch[] = [];
/** Status answers to give, in order, before answering 200. */
let answers: number[] = [];
/** The same for the flag set. */
let flagAnswers: number[] = [];
/** The flag set's revision, whether it names a change stream, and the streams opened. */
let revision = 1;
let withStream = false;
let streams: ServerResponse[] = [];

const FLAG = Flag.parse({
  key: "new-checkout",
  type: "boolean",
  variants: { on: true, off: false },
  defaultVariant: "off",
  rollout: { variant: "on", percent: 50 },
});

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/aviary/v1/flags") {
        const status = flagAnswers.shift() ?? 200;
        if (status !== 200) {
          res.writeHead(status, { "content-type": "application/json" });
          res.end('{"errorDetails":"not now"}');
          return;
        }
        res.writeHead(200, { "content-type": "application/json", etag: `"${revision}"` });
        const eventStreams = withStream
          ? [{ type: "sse", endpoint: { requestUri: `/changes?ticket=${revision}` } }]
          : [];
        res.end(JSON.stringify({ revision, flags: [FLAG], eventStreams }));
        return;
      }
      if (req.url?.startsWith("/changes")) {
        streams.push(res);
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(": heartbeat\n\n");
        return;
      }
      const status = answers.shift() ?? 200;
      if (status === 200) batches.push(JSON.parse(Buffer.concat(chunks).toString()) as Batch);
      res.writeHead(status, { "content-type": "application/json" });
      res.end(
        JSON.stringify(status === 200 ? { accepted: 1, refusedCount: 0 } : { errorDetails: "no" }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());
beforeEach(() => {
  batches = [];
  answers = [];
  flagAnswers = [];
  revision = 1;
  withStream = false;
  streams = [];
});

function reporter(over: Partial<ConstructorParameters<typeof Reporter>[0]> = {}) {
  const errors: string[] = [];
  const r = new Reporter({
    url: `${base}/aviary/v1/flags/track`,
    clientKey: "k",
    intervalMs: 3_600_000,
    maxBuffered: 10_000,
    maxBackoffMs: 30_000,
    timeoutMs: 5_000,
    collect: () => {},
    onError: (m) => errors.push(m),
    ...over,
  });
  return { r, errors };
}

const total = (bs: Batch[], name: string) =>
  bs
    .flatMap((b) => b.events)
    .filter((e) => e.name === name)
    .reduce((a, e) => a + (e.count ?? 0), 0);

describe("the provider's reporter", () => {
  it("holds at most maxBuffered counters and counts what it drops", async () => {
    const { r } = reporter({ maxBuffered: 3 });
    for (let i = 0; i < 5; i++) r.event("new-checkout", "on", `e${i}`, 2);
    r.event("new-checkout", "on", "e0", 5); // a counter it holds still grows
    r.latency("new-checkout", "on", 10);
    assert.deepEqual([r.stats().buffered, r.stats().dropped], [3, 5]);
    await r.flush(true);
    assert.equal(total(batches, "e0"), 7);
    assert.equal(r.stats().buffered, 0);
  });

  it("splits what it holds into batches the endpoint takes", async () => {
    const { r } = reporter({ maxBuffered: 20_000 });
    for (let i = 0; i < 1_500; i++) r.event("new-checkout", "on", `e${i}`, 1);
    for (let i = 0; i < 12_000; i++) r.latency("new-checkout", "off", i % 500);
    await r.flush(true);
    for (const b of batches) {
      assert.ok(b.exposures.length + b.events.length <= 1_000);
      const values = b.events.reduce((a, e) => a + (e.values?.length ?? 0), 0);
      assert.ok(values <= 10_000);
      for (const e of b.events) assert.ok((e.values?.length ?? 0) <= 1_000);
    }
    assert.equal(
      batches.flatMap((b) => b.events).reduce((a, e) => a + (e.values?.length ?? 0), 0),
      12_000,
    );
  });

  it("keeps the counts of a failed send and sends them after", async () => {
    const { r, errors } = reporter();
    r.exposure("new-checkout", "on", 40);
    r.event("new-checkout", "on", "error", 3);
    answers = [503];
    await r.flush(true);
    assert.equal(batches.length, 0);
    assert.equal(r.stats().failedSends, 1);
    assert.match(errors[0] ?? "", /503/);
    // During the back-off a timer's flush waits; a forced one goes.
    await r.flush();
    assert.equal(batches.length, 0);
    r.exposure("new-checkout", "on", 2);
    await r.flush(true);
    assert.equal(batches[0]?.exposures[0]?.count, 42);
    assert.equal(total(batches, "error"), 3);
  });

  it("drops a batch the endpoint refuses, counting it, and never throws when it is unreachable", async () => {
    const { r, errors } = reporter();
    r.exposure("new-checkout", "on", 1);
    answers = [400];
    await r.flush(true);
    assert.equal(r.stats().dropped, 1);
    assert.match(errors.at(-1) ?? "", /refused a batch \(400\)/);
    const gone = reporter({ url: "http://127.0.0.1:1/aviary/v1/flags/track", timeoutMs: 2_000 });
    gone.r.exposure("new-checkout", "on", 1);
    await gone.r.close();
    assert.equal(gone.r.stats().failedSends, 1);
  });
});

describe("AviaryProvider", () => {
  it("counts exposures on the evaluation path and attributes track() to the variant", async () => {
    const p = new AviaryProvider({
      baseUrl: base,
      clientKey: "k",
      changes: "polling",
      onError: () => {},
    });
    await p.initialize();
    const ctx = { targetingKey: "user-1" };
    const d = await p.resolveBooleanEvaluation("new-checkout", false, ctx, console);
    assert.equal(d.reason, "SPLIT");
    p.track("checkout-completed", ctx);
    p.track("latency", ctx, { value: 12 });
    // What the application gets wrong is counted, never thrown.
    p.track("not a name", ctx);
    p.track("latency", ctx, { value: Number.NaN });
    p.track("latency", ctx);
    assert.doesNotThrow(() => p.track("x", null as never));
    assert.equal(p.stats().invalidEvents, 3);
    await p.onClose();
    const v = d.variant as string;
    assert.equal(batches[0]?.exposures[0]?.variant, v);
    assert.equal(total(batches, "checkout-completed"), 1);
    const lat = batches.flatMap((b) => b.events).find((e) => e.name === "latency");
    assert.deepEqual(lat?.values, [12]);
    await assert.rejects(p.resolveBooleanEvaluation("nope", false, ctx, console), /no flag nope/);
    await assert.rejects(
      p.resolveStringEvaluation("new-checkout", "", ctx, console),
      /not a string/,
    );
  });

  it("started while Aviary cannot answer: in error, then ready once the flags come, through the SDK", async () => {
    flagAnswers = [503, 503];
    const errors: string[] = [];
    const p = new AviaryProvider({
      baseUrl: base,
      clientKey: "k",
      changes: "polling",
      onError: (m) => errors.push(m),
    });
    const domain = "started-while-away";
    const client = OpenFeature.getClient(domain);
    const ready = new Promise<void>((r) => client.addHandler(ProviderEvents.Ready, () => r()));
    await assert.rejects(OpenFeature.setProviderAndWait(domain, p), /503/);
    assert.equal(client.providerStatus, ProviderStatus.ERROR);
    const meanwhile = await client.getBooleanDetails("new-checkout", true, { targetingKey: "u" });
    assert.equal(meanwhile.value, true, "the application's default while in error");
    assert.ok(meanwhile.errorCode);
    await ready;
    assert.equal(client.providerStatus, ProviderStatus.READY);
    const d = await client.getBooleanDetails("new-checkout", true, { targetingKey: "u" });
    assert.equal(d.errorCode, undefined);
    assert.equal(d.reason, "SPLIT");
    assert.equal(
      flagAnswers.length,
      0,
      "both refusals were used: it tried again after a failed retry",
    );
    assert.ok(
      errors.some((m) => /trying again: .*503/.test(m)),
      errors.join("\n"),
    );
    await OpenFeature.clearProviders();
  });

  it("follows the change stream, and a stream that ends is replaced after a fresh fetch", async () => {
    withStream = true;
    const errors: string[] = [];
    const p = new AviaryProvider({ baseUrl: base, clientKey: "k", onError: (m) => errors.push(m) });
    const until = async (what: string, ok: () => boolean) => {
      for (const end = Date.now() + 10_000; !ok(); ) {
        if (Date.now() > end) assert.fail(`${what} not within 10 s (${errors.join("; ")})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await p.initialize();
    try {
      assert.equal(p.revision, 1);
      await until("the stream", () => streams.length === 1);
      revision = 2;
      streams[0]?.write('data: {"type":"refetchEvaluation","etag":"\\"2\\""}\n\n');
      await until("revision 2", () => p.revision === 2);
      streams[0]?.end(); // the instance went away, say
      await until("a new stream", () => streams.length === 2);
      assert.ok(errors.some((m) => /the change stream ended; following the flags again/.test(m)));
      revision = 3;
      streams[1]?.write('data: {"type":"refetchEvaluation"}\n\n');
      await until("revision 3", () => p.revision === 3);
    } finally {
      await p.onClose();
      for (const s of streams) s.end();
    }
  });

  it("refuses a numeric option that is not a positive number, naming it", () => {
    for (const [name, value] of [
      ["streamIdleMs", 0],
      ["pollIntervalMs", Number.NaN],
      ["timeoutMs", -1],
      ["maxBuffered", "10"],
    ] as const)
      assert.throws(
        () => new AviaryProvider({ baseUrl: base, clientKey: "k", [name]: value as number }),
        new RegExp(`^RangeError: AviaryProvider: ${name} must be a positive number`),
      );
  });
});
