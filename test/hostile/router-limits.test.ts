/**
 * The router's limits against clients that hold resources: an upload that stalls is cut
 * (408, never the target's fault), a target whose every connection and queue place is taken
 * answers 503 at once instead of queueing for ever, and connections past `proxy.maxConnections`
 * are closed at accept while the admin API still answers. Bounds here are liveness bounds
 * (fail instead of hang), never timing claims.
 */

import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { request } from "undici";
import { startAdmin, type TestAdmin } from "../admin-fixtures.js";
import { startRouter, startUpstream, type TestRouter } from "../fixtures.js";

const tracked: Socket[] = [];

async function open(port: number): Promise<Socket> {
  const s = connect(port, "127.0.0.1");
  tracked.push(s);
  s.on("error", () => {});
  await once(s, "connect");
  return s;
}

/** Everything the server sends until it closes the connection; rejects after `boundMs`. */
function readUntilClose(socket: Socket, boundMs = 15_000): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the server did not close the connection within ${boundMs} ms`)),
      boundMs,
    );
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
  });
}

async function within<T>(p: Promise<T>, boundMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${boundMs} ms`)), boundMs);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function until(cond: () => boolean, what: string, boundMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > boundMs) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function sample(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

function noFailures(router: TestRouter): void {
  const m = router.metrics.query({
    service: "app",
    version: "v1",
    from: Date.now() - 60_000,
    to: Date.now() + 1_000,
  });
  assert.deepEqual(m.failures, { connect: 0, timeout: 0, reset: 0 });
  const target = router.router.plan.services[0]?.stable.targets.targets[0];
  assert.equal(target?.isAvailable(Date.now()), true, "the target was not ejected");
  assert.equal(target?.ejections, 0);
}

after(() => {
  for (const s of tracked) s.destroy();
});

describe("a stalled upload", () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  for (const [what, first] of [
    ["one byte then nothing", "x"],
    ["the head and no byte of the body", ""],
  ] as const) {
    it(`is cut with 408 after proxy.requestBodyTimeout (${what}), and blames no target`, async () => {
      let upstreamSawClose = false;
      const up = await startUpstream("v1");
      up.server.on("request", (req) => {
        req.on("close", () => {
          upstreamSawClose = true;
        });
      });
      cleanup.push(() => up.close());
      const router = await startRouter(
        [
          {
            name: "app",
            match: { pathPrefix: "/" },
            stable: { version: "v1", targets: [up.url] },
            outlierDetection: { consecutiveFailures: 1 },
          },
        ],
        { proxy: { requestBodyTimeout: "1s" } },
      );
      cleanup.push(() => router.close());

      const client = await open(router.port);
      const answer = readUntilClose(client);
      client.write(`POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: 100\r\n\r\n${first}`);
      const raw = await answer;
      assert.match(raw, /^HTTP\/1\.1 408 /, raw);
      assert.match(raw, /\r\nconnection: close\r\n/i);
      if (first !== "") await until(() => upstreamSawClose, "the upstream request was stopped");
      noFailures(router);
      const text = await router.metrics.prometheus.metrics();
      assert.equal(
        sample(text, "aviary_router_rejected_requests_total", '{reason="body_timeout"}'),
        1,
      );
      assert.equal(router.router.inFlight, 0);

      // An upload that keeps going is not cut, and the target still serves.
      const res = await request(`${router.url}/upload`, { method: "POST", body: "hello" });
      assert.equal(res.statusCode, 200);
      assert.equal(((await res.body.json()) as { bodyBytes: number }).bodyBytes, 5);
    });
  }
});

describe("an upload that is slow but not stalled", () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it("is not cut while bytes keep arriving, nor while the upstream is the one not reading", async () => {
    // The upstream ignores the body for 2.5 s (longer than the 1 s timeout), then reads it all.
    const up = await startUpstream("v1");
    up.server.prependListener("request", (req) => {
      req.pause();
      setTimeout(() => req.resume(), 2_500);
    });
    cleanup.push(() => up.close());
    const router = await startRouter(
      [{ name: "app", match: { pathPrefix: "/" }, stable: { version: "v1", targets: [up.url] } }],
      { proxy: { requestBodyTimeout: "1s" } },
    );
    cleanup.push(() => router.close());

    // Back-pressure from the upstream: a body far larger than the socket buffers.
    const big = Buffer.alloc(32 * 1024 * 1024, 97);
    const res = await request(`${router.url}/big`, { method: "POST", body: big });
    assert.equal(res.statusCode, 200);
    assert.equal(((await res.body.json()) as { bodyBytes: number }).bodyBytes, big.length);

    // A client that sends a byte every 300 ms for 2.4 s is slow, never idle for 1 s.
    const client = await open(router.port);
    const answer = readUntilClose(client);
    client.write(
      "POST /drip HTTP/1.1\r\nHost: app\r\nContent-Length: 8\r\nConnection: close\r\n\r\n",
    );
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 300));
      client.write("x");
    }
    const raw = await answer;
    assert.match(raw, /^HTTP\/1\.1 200 /, raw);
    const text = await router.metrics.prometheus.metrics();
    assert.equal(
      sample(text, "aviary_router_rejected_requests_total", '{reason="body_timeout"}'),
      0,
    );
  });
});

describe("a target whose connections are all held by slow uploads", () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it("answers the next request 503 with Retry-After at once, not after the uploads", async () => {
    const up = await startUpstream("v1");
    cleanup.push(() => up.close());
    const router = await startRouter(
      [
        {
          name: "app",
          match: { pathPrefix: "/" },
          stable: { version: "v1", targets: [up.url] },
          outlierDetection: { consecutiveFailures: 1 },
        },
      ],
      { proxy: { connectionsPerTarget: 2, queuePerTarget: 1 } },
    );
    cleanup.push(() => router.close());

    // Three uploads, one byte every 100 ms: never idle long enough to be cut, and between
    // them they hold both connections and the one queue place.
    const uploaders: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await open(router.port);
      s.write(`POST /slow/${i} HTTP/1.1\r\nHost: app\r\nContent-Length: 100000\r\n\r\nx`);
      uploaders.push(s);
    }
    const drip = setInterval(() => {
      for (const s of uploaders) s.write("x");
    }, 100);
    try {
      const target = router.router.plan.services[0]?.stable.targets.targets[0];
      await until(() => target?.active === 3, "three uploads in flight");

      const res = await within(
        request(`${router.url}/normal`),
        10_000,
        "the request behind the uploads got no answer",
      );
      assert.equal(res.statusCode, 503);
      assert.equal(res.headers["retry-after"], "1");
      assert.equal(await res.body.text(), "service overloaded\n");
      const text = await router.metrics.prometheus.metrics();
      assert.equal(sample(text, "aviary_router_rejected_requests_total", '{reason="overload"}'), 1);
    } finally {
      clearInterval(drip);
      for (const s of uploaders) s.destroy();
    }
    // Once the uploads are gone the target serves again, and nothing was put down to it.
    await until(() => router.router.inFlight === 0, "the uploads to end");
    const res = await request(`${router.url}/normal`);
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    noFailures(router);
  });
});

describe("a canary whose connections are all taken", () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it("sends its users to stable instead of answering 503", async () => {
    const stable = await startUpstream("stable");
    const canary = await startUpstream("canary");
    cleanup.push(
      () => stable.close(),
      () => canary.close(),
    );
    const router = await startRouter(
      [
        {
          name: "app",
          match: { pathPrefix: "/" },
          stable: { version: "v1", targets: [stable.url] },
          canary: { version: "v2", targets: [canary.url] },
          weight: 0,
          routes: [{ match: { headers: { "x-canary": { exact: "yes" } } }, to: "canary" }],
        },
      ],
      { proxy: { connectionsPerTarget: 1, queuePerTarget: 0 } },
    );
    cleanup.push(() => router.close());

    // One slow upload holds the canary's only connection.
    const uploader = await open(router.port);
    uploader.write(
      "POST /slow HTTP/1.1\r\nHost: app\r\nx-canary: yes\r\nContent-Length: 100000\r\n\r\nx",
    );
    const drip = setInterval(() => uploader.write("x"), 100);
    try {
      const target = router.router.plan.services[0]?.canary?.targets.targets[0];
      await until(() => target?.active === 1, "the upload holds the canary");
      const res = await within(
        request(`${router.url}/next`, { headers: { "x-canary": "yes" } }),
        10_000,
        "no answer",
      );
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers["x-upstream"], "stable");
      await res.body.dump();
    } finally {
      clearInterval(drip);
      uploader.destroy();
    }
  });
});

describe("connections past proxy.maxConnections", () => {
  let api: TestAdmin;
  let up: Awaited<ReturnType<typeof startUpstream>>;
  after(async () => {
    await api?.close();
    await up?.close();
  });

  it("are closed at accept and counted, and the admin API still answers", async () => {
    up = await startUpstream("v1");
    api = await startAdmin({
      spec: {
        proxy: { maxConnections: 5 },
        services: [
          { name: "app", match: { pathPrefix: "/" }, stable: { version: "v1", targets: [up.url] } },
        ],
      },
    });
    const port = api.aviary.listen.port;
    const router = api.aviary.router;
    assert.equal(router.maxConnections, 5);

    // Five idle, half-sent connections take every place.
    const held: Socket[] = [];
    for (let i = 0; i < 5; i++) {
      const s = await open(port);
      s.write("GET / HTTP/1.1\r\nHost: app\r\n");
      held.push(s);
    }
    const scrape = async () =>
      (await (await request(`${api.admin}/metrics`)).body.text()) as string;
    await until(() => router.connectionsOpen === 5, "five connections accepted");

    // Three more are closed by the router without a byte.
    const extra = await Promise.all([open(port), open(port), open(port)]);
    const answers = await Promise.all(extra.map((s) => readUntilClose(s)));
    assert.deepEqual(answers, ["", "", ""]);
    const text = await scrape();
    assert.equal(sample(text, "aviary_router_connections_refused_total"), 3);
    assert.equal(sample(text, "aviary_router_connections_max"), 5);
    assert.equal(sample(text, "aviary_router_connections"), 5);

    const health = await request(`${api.admin}/healthz`);
    assert.equal(health.statusCode, 200);
    await health.body.dump();

    // Places free up as connections close.
    for (const s of held) s.destroy();
    await until(() => router.connectionsOpen === 0, "the held connections to close");
    const res = await request(`${api.url}/after`);
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  });
});
