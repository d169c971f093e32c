import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { pino } from "pino";
import { MetricsRegistry } from "../../../dataplane/metrics/registry.js";
import type { Recorder } from "../../../dataplane/metrics/types.js";
import { ManualClock } from "../../../util/clock.js";
import { silentLogger } from "../../../util/log.js";
import {
  type LogListener,
  type LogListenerOptions,
  MAX_DATAGRAM_BYTES,
  startLogListener,
  WARN_INTERVAL_MS,
} from "./listener.js";

const T0 = Date.UTC(2026, 0, 1);

/** A MetricsRegistry and a resolve that knows only the versions the test names, as the lead's does. */
function known(clock: ManualClock) {
  const metrics = new MetricsRegistry({ clock, windowMs: 60_000 });
  const recorders = new Map<string, Recorder>();
  for (const [svc, ver, role] of [
    ["checkout", "v1", "stable"],
    ["checkout", "v2", "canary"],
    ["cart", "v7", "stable"],
  ] as const)
    recorders.set(`${svc} ${ver} ${role}`, metrics.recorder(svc, ver, role));
  const resolve: LogListenerOptions["resolve"] = (svc, ver, role) =>
    recorders.get(`${svc} ${ver} ${role}`);
  return { metrics, resolve };
}

/** Log records written through a real pino logger. */
function capturingLogger() {
  const records: Array<{ level: number; msg: string; dropped?: number; example?: string }> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n")) if (line) records.push(JSON.parse(line));
      done();
    },
  });
  return {
    log: pino({ level: "info" }, stream),
    warnings: () => records.filter((r) => r.level === 40),
  };
}

function frame(line: string): Buffer {
  return Buffer.from(`<134>Dec  5 11:57:30 haproxy[8782]: ${line}\n`, "latin1");
}

/** Polls done() up to ms; `eager` yields only to the event loop's next turn instead of sleeping. */
async function until(what: string, done: () => boolean, ms = 5000, eager = false): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => (eager ? setImmediate(r) : setTimeout(r, 5)));
  }
}

function send(socket: Socket, port: number, data: Buffer, host = "127.0.0.1"): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.send(data, port, host, (err) => (err ? reject(err) : resolve())),
  );
}

function total(l: LogListener): number {
  const s = l.stats();
  return s.recorded + s.malformed + s.foreign + s.oversized;
}

describe("log listener over real UDP", () => {
  let client: Socket;
  before(() => {
    client = createSocket("udp4");
  });
  after(() => client.close());

  it("records N valid lines into the versions' windows, exactly", async () => {
    const clock = new ManualClock(T0);
    const { metrics, resolve } = known(clock);
    const listener = await startLogListener({
      listen: "udp://127.0.0.1:0",
      resolve,
      log: silentLogger(),
      clock,
      prometheus: metrics.prometheus,
    });
    try {
      const lines: string[] = [];
      for (let i = 0; i < 300; i++) {
        lines.push(`aviary1 svc=checkout ver=v1 role=stable st=200 ms=${i % 50}`);
        lines.push(
          `aviary1 svc=checkout ver=v2 role=canary st=${i % 10 === 0 ? 503 : 201} sec=0.010`,
        );
      }
      for (let i = 0; i < 20; i++)
        lines.push("aviary1 svc=checkout ver=v2 role=canary st=502 ms=3000 fail=connect");
      lines.push("aviary1 svc=checkout ver=v2 role=canary st=504 ms=5000.5 fail=timeout");
      lines.push("aviary1 svc=checkout ver=v2 role=canary st=502 ms=12 fail=reset");
      for (const line of lines) await send(client, listener.address.port, frame(line));
      await until("every line", () => total(listener) === lines.length);
      assert.deepEqual(listener.stats(), {
        recorded: lines.length,
        malformed: 0,
        foreign: 0,
        oversized: 0,
      });

      clock.advance(1000);
      const q = (version: string) =>
        metrics.query({ service: "checkout", version, from: T0, to: T0 + 1000 });
      const stable = q("v1");
      assert.equal(stable.requests, 300);
      assert.equal(stable.responses["2xx"], 300);
      assert.equal(stable.latencyMs.max, 49);
      const canary = q("v2");
      assert.equal(canary.requests, 322);
      assert.deepEqual(canary.responses, { "1xx": 0, "2xx": 270, "3xx": 0, "4xx": 0, "5xx": 30 });
      assert.deepEqual(canary.failures, { connect: 20, timeout: 1, reset: 1 });
      assert.equal(canary.errors, 52);
      assert.equal(canary.latencyMs.max, 5000.5);

      const text = await metrics.metrics();
      assert.match(text, /aviary_dataplane_log_lines_total\{outcome="recorded"\} 622/);
      assert.match(text, /aviary_dataplane_log_lines_total\{outcome="malformed"\} 0/);
    } finally {
      await listener.close();
    }
  });

  it("counts and drops malformed, foreign and oversized datagrams", async () => {
    const clock = new ManualClock(T0);
    const { metrics, resolve } = known(clock);
    const listener = await startLogListener({
      listen: "udp://127.0.0.1:0",
      resolve,
      log: silentLogger(),
      clock,
      prometheus: metrics.prometheus,
    });
    try {
      const port = listener.address.port;
      await send(client, port, frame("aviary1 svc=nope ver=v1 role=stable st=200 ms=1"));
      await send(client, port, frame("aviary1 svc=checkout ver=v9 role=stable st=200 ms=1"));
      await send(client, port, frame("aviary1 svc=checkout ver=v2 role=stable st=200 ms=1"));
      await send(client, port, frame("aviary1 svc=checkout ver=v1 role=mirror st=200 ms=1"));
      await send(client, port, frame("GET / 200"));
      await send(client, port, Buffer.from([0xff, 0xfe, 0x00, 0x01]));
      await send(client, port, Buffer.alloc(0));
      const big = Buffer.alloc(MAX_DATAGRAM_BYTES, "a");
      await send(client, port, big);
      await send(client, port, Buffer.alloc(MAX_DATAGRAM_BYTES + 1, "a"));
      await send(client, port, Buffer.alloc(60_000, "a"));
      await until("every datagram", () => total(listener) === 10);
      assert.deepEqual(listener.stats(), { recorded: 0, malformed: 5, foreign: 3, oversized: 2 });
      assert.deepEqual(metrics.series(), [], "no series for any of them");
      const text = await metrics.metrics();
      assert.match(text, /aviary_dataplane_log_lines_total\{outcome="foreign"\} 3/);
      assert.match(text, /aviary_dataplane_log_lines_total\{outcome="oversized"\} 2/);
    } finally {
      await listener.close();
    }
    assert.doesNotMatch(await metrics.metrics(), /aviary_dataplane_log_lines_total/);
  });

  it("warns at most once a minute on its clock, saying how many were dropped", async () => {
    const clock = new ManualClock(T0);
    const { resolve } = known(clock);
    const { log, warnings } = capturingLogger();
    const listener = await startLogListener({ listen: "udp://127.0.0.1:0", resolve, log, clock });
    try {
      const port = listener.address.port;
      for (let i = 0; i < 50; i++) await send(client, port, frame(`garbage ${i}`));
      await until("the garbage", () => listener.stats().malformed === 50);
      assert.equal(warnings().length, 1, "the first drop is said at once");
      assert.equal(warnings()[0]?.dropped, 1);
      assert.match(String(warnings()[0]?.example), /does not start with "aviary1 "/);
      assert.doesNotMatch(JSON.stringify(warnings()), /garbage \d/, "never the datagram itself");
      clock.advance(WARN_INTERVAL_MS - 1);
      assert.equal(warnings().length, 1);
      clock.advance(1);
      assert.equal(warnings().length, 2);
      assert.equal(warnings()[1]?.dropped, 49);
      clock.advance(10 * WARN_INTERVAL_MS);
      assert.equal(warnings().length, 2, "nothing dropped since: nothing said");
      await send(client, port, frame("aviary1 svc=x ver=y role=stable st=200 ms=1"));
      await until("the foreign line", () => listener.stats().foreign === 1);
      assert.equal(warnings().length, 3);
      assert.equal(warnings()[2]?.dropped, 1);
    } finally {
      await listener.close();
    }
    assert.equal(clock.pendingTimers, 0, "close cancels the pending warning");
  });

  it("stays bounded under a flood of 100k garbage, foreign and oversized datagrams", async () => {
    const clock = new ManualClock(T0);
    const { metrics, resolve } = known(clock);
    const listener = await startLogListener({
      listen: "udp://127.0.0.1:0",
      resolve,
      log: silentLogger(),
      clock,
      prometheus: metrics.prometheus,
    });
    const gc = exposeGc();
    try {
      const port = listener.address.port;
      const kinds = [
        (i: number) => frame(`aviary1 svc=s${i} ver=v${i} role=canary st=200 ms=1`),
        (i: number) => Buffer.from(`<134>Dec  5 11:57:30 t: noise ${i} \u00ff`, "latin1"),
        (i: number) => Buffer.alloc(MAX_DATAGRAM_BYTES + 1 + (i % 1000), i & 0xff),
        (i: number) => Buffer.from([i & 0xff, 0x3c, 0x3e, 0xff]),
      ];
      const N = 100_000;
      gc();
      const heapBefore = process.memoryUsage().heapUsed;
      // Sent in bursts that fit a default Linux receive buffer (net.core.rmem_max 208 KiB), each
      // waited for, so the kernel drops none and every datagram is counted.
      const BURST = 64;
      for (let start = 0; start < N; start += BURST) {
        const end = Math.min(N, start + BURST);
        const sends: Promise<void>[] = [];
        for (let i = start; i < end; i++) {
          sends.push(send(client, port, (kinds[i % kinds.length] as (i: number) => Buffer)(i)));
        }
        await Promise.all(sends);
        await until("the burst", () => total(listener) === end, 5000, true);
      }
      gc();
      const grown = process.memoryUsage().heapUsed - heapBefore;
      assert.deepEqual(listener.stats(), {
        recorded: 0,
        malformed: N / 2,
        foreign: N / 4,
        oversized: N / 4,
      });
      assert.deepEqual(metrics.series(), []);
      // Nothing is kept per datagram or per name: a few MB of slack for the runner's own noise.
      assert.ok(grown < 16 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MiB`);
      console.log(
        `flood: ${N} datagrams, heap ${grown >= 0 ? "+" : ""}${(grown / 1048576).toFixed(2)} MiB after gc`,
      );
    } finally {
      await listener.close();
    }
  });
});

describe("log listener addresses", () => {
  it("refuses a second counter on the same registry without keeping the port", async () => {
    const clock = new ManualClock(T0);
    const { metrics, resolve } = known(clock);
    const opts = { resolve, log: silentLogger(), prometheus: metrics.prometheus };
    const first = await startLogListener({ listen: "udp://127.0.0.1:0", ...opts });
    const port = await freeUdpPort();
    try {
      await assert.rejects(
        startLogListener({ listen: `udp://127.0.0.1:${port}`, ...opts }),
        /already been registered/,
      );
    } finally {
      await first.close();
    }
    const again = await startLogListener({ listen: `udp://127.0.0.1:${port}`, ...opts });
    await again.close();
  });

  it("refuses a port in use with an error naming dataplane.logs.listen", async () => {
    const clock = new ManualClock(T0);
    const { resolve } = known(clock);
    const first = await startLogListener({
      listen: "udp://127.0.0.1:0",
      resolve,
      log: silentLogger(),
    });
    try {
      await assert.rejects(
        startLogListener({
          listen: `udp://127.0.0.1:${first.address.port}`,
          resolve,
          log: silentLogger(),
        }),
        /dataplane\.logs\.listen: cannot listen on udp:\/\/127\.0\.0\.1:\d+: the address is in use/,
      );
    } finally {
      await first.close();
    }
  });

  it("refuses what is not udp://HOST:PORT, and a non-loopback address without allowFrom", async () => {
    const { resolve } = known(new ManualClock(T0));
    const start = (listen: string, allowFrom?: string[]) =>
      startLogListener({ listen, resolve, log: silentLogger(), ...(allowFrom && { allowFrom }) });
    for (const listen of [
      "127.0.0.1:5514",
      "unix:/run/aviary.sock",
      "udp://127.0.0.1",
      "tcp://127.0.0.1:1",
    ])
      await assert.rejects(start(listen), /dataplane\.logs\.listen: expected udp:\/\/HOST:PORT/);
    await assert.rejects(start("udp://0.0.0.0:0"), /not a loopback address.*allowFrom/);
    await assert.rejects(start("udp://[::]:0"), /not a loopback address/);
    await assert.rejects(start("udp://127.0.0.1:0", ["nonsense"]), /dataplane\.logs\.allowFrom/);
  });

  it("with allowFrom, drops datagrams from other sources as foreign", async () => {
    const clock = new ManualClock(T0);
    const { resolve } = known(clock);
    const line = frame("aviary1 svc=checkout ver=v1 role=stable st=200 ms=1");
    const client = createSocket("udp4");
    const only = await startLogListener({
      listen: "udp://127.0.0.1:0",
      resolve,
      log: silentLogger(),
      allowFrom: ["10.0.0.0/8"],
    });
    const loop = await startLogListener({
      listen: "udp://0.0.0.0:0",
      resolve,
      log: silentLogger(),
      allowFrom: ["127.0.0.0/8"],
    });
    try {
      await send(client, only.address.port, line);
      await send(client, loop.address.port, line);
      await until("both", () => total(only) === 1 && total(loop) === 1);
      assert.equal(only.stats().foreign, 1);
      assert.equal(loop.stats().recorded, 1);
    } finally {
      client.close();
      await Promise.all([only.close(), loop.close()]);
    }
  });

  it("listens on IPv6 loopback", async () => {
    const clock = new ManualClock(T0);
    const { resolve } = known(clock);
    const listener = await startLogListener({
      listen: "udp://[::1]:0",
      resolve,
      log: silentLogger(),
    });
    const client = createSocket("udp6");
    try {
      assert.equal(listener.address.host, "::1");
      await send(
        client,
        listener.address.port,
        frame("aviary1 svc=cart ver=v7 role=stable st=404 ms=2"),
        "::1",
      );
      await until("the line", () => listener.stats().recorded === 1);
    } finally {
      client.close();
      await listener.close();
    }
  });
});

async function freeUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(resolve));
  return port;
}

/** `global.gc` when the runner exposes it, else turned on here; either way a full collection. */
function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}
