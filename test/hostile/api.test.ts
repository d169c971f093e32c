/**
 * The admin API against hostile or careless clients, over real HTTP and real sockets: bodies
 * that are not JSON (item 12), JSON built to hurt (huge, deep, `__proto__`), one token holding
 * every event-stream slot, and a flood of idle connections to the admin port (item 7).
 */

import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { get, request as httpRequest, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { editTokensFile, formatTokenLine, hashToken } from "../../src/api/tokens-file.js";
import { type AviaryOptions, type RunningAviary, startAviary } from "../../src/server.js";
import { Spec } from "../../src/spec/schema.js";
import { formatListenAddress } from "../../src/util/address.js";
import { silentLogger } from "../../src/util/log.js";

const READER_TOKEN = "reader-token-0123456789abcdefghijklmnopqrstu";

interface Admin {
  aviary: RunningAviary;
  base: string;
  port: number;
  operator: string;
  dir: string;
  close(): Promise<void>;
}

/** An Aviary in-process on port 0, with a read-only token `reader` in its tokens file. */
async function start(
  extra: Pick<AviaryOptions, "streams" | "adminLimits"> = {},
  spec: Record<string, unknown> = {},
): Promise<Admin> {
  const dir = mkdtempSync(join(tmpdir(), "aviary-hostile-api-"));
  const dataDir = join(dir, "data");
  editTokensFile(
    join(dataDir, "tokens"),
    () =>
      `${formatTokenLine({ hash: hashToken(READER_TOKEN), role: "read-only", name: "reader", created: null })}\n`,
  );
  const saved = process.env.AVIARY_TOKEN;
  process.env.AVIARY_TOKEN = "operator-token-0123456789abcdefghijklmnop";
  let aviary: RunningAviary;
  try {
    aviary = await startAviary({
      spec: Spec.parse({ ...spec, listen: "127.0.0.1:0", admin: "127.0.0.1:0" }),
      log: silentLogger(),
      dataDir,
      ...extra,
    });
  } finally {
    if (saved === undefined) delete process.env.AVIARY_TOKEN;
    else process.env.AVIARY_TOKEN = saved;
  }
  return {
    aviary,
    base: `http://${formatListenAddress(aviary.adminAddress)}`,
    port: aviary.adminAddress.port,
    operator: "operator-token-0123456789abcdefghijklmnop",
    dir,
    close: async () => {
      await aviary.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Answer {
  status: number;
  contentType: string;
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field
  json: any;
}

/** One request with exactly these headers (no content-type added behind the test's back). */
async function send(
  admin: Admin,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  const res = await request(`${admin.base}${path}`, {
    method: method as "POST",
    headers: { authorization: `Bearer ${admin.operator}`, ...headers },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.body.text();
  const contentType = String(res.headers["content-type"] ?? "");
  return {
    status: res.statusCode,
    contentType,
    json: contentType.includes("json") && text !== "" ? JSON.parse(text) : undefined,
  };
}

const SHOP = {
  services: [
    {
      name: "shop",
      match: { pathPrefix: "/shop" },
      stable: { version: "v1", targets: ["http://127.0.0.1:9"] },
      strategy: { steps: [{ setWeight: 10 }, { pause: {} }] },
    },
  ],
};

describe("request bodies: JSON only, and JSON that cannot hurt", { timeout: 20_000 }, () => {
  let admin: Admin;
  before(async () => {
    admin = await start({}, SHOP);
  });
  after(() => admin.close());

  const deploy = JSON.stringify({ version: "v2", targets: ["http://127.0.0.1:9"] });

  for (const [what, contentType] of [
    ["text/plain", "text/plain"],
    ["text/plain with a charset", "text/plain; charset=utf-8"],
    ["a form", "application/x-www-form-urlencoded"],
    ["multipart", "multipart/form-data; boundary=x"],
    ["JSON in latin1", "application/json; charset=latin1"],
  ] as const) {
    it(`refuses a body sent as ${what} with 415, naming what it takes`, async () => {
      const a = await send(
        admin,
        "POST",
        "/api/v1/services/shop/deploy",
        { "content-type": contentType },
        deploy,
      );
      assert.equal(a.status, 415, JSON.stringify(a.json));
      assert.match(a.contentType, /^application\/problem\+json/);
      assert.equal(a.json.code, "AVIARY_UNSUPPORTED_MEDIA_TYPE");
      assert.match(a.json.detail, /application\/json/);
      const rollout = await send(admin, "GET", "/api/v1/services/shop", {});
      assert.equal(rollout.json.rollout ?? null, null, "nothing was deployed");
    });
  }

  it("refuses a body without a Content-Type with 415", async () => {
    // undici would add text/plain to a string body: say it on a raw request instead.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `${admin.base}/api/v1/services/shop/pause`,
        {
          method: "POST",
          headers: { authorization: `Bearer ${admin.operator}`, "content-length": "2" },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end("{}");
    });
    assert.equal(status, 415);
  });

  it("takes application/json with or without charset=utf-8, and application/*+json", async () => {
    for (const contentType of [
      "application/json",
      "application/json; charset=utf-8",
      "Application/JSON;charset=UTF-8",
      "application/vnd.aviary+json",
    ]) {
      const a = await send(
        admin,
        "POST",
        "/api/v1/services/shop/pause",
        { "content-type": contentType },
        "{}",
      );
      // No rollout to pause: the route ran, which is what this is about.
      assert.equal(a.json.code, "AVIARY_NO_ROLLOUT", `${contentType}: ${JSON.stringify(a.json)}`);
    }
  });

  it("ignores a body on a GET, whatever its type (HTTP gives it no meaning there)", async () => {
    const a = await send(
      admin,
      "GET",
      "/api/v1/services",
      { "content-type": "text/plain" },
      "hello",
    );
    assert.equal(a.status, 200);
  });

  it("refuses a body over 1 MiB with 413", async () => {
    const big = JSON.stringify({ version: "v2", targets: ["x".repeat(1_100_000)] });
    const a = await send(
      admin,
      "POST",
      "/api/v1/services/shop/deploy",
      { "content-type": "application/json" },
      big,
    );
    assert.equal(a.status, 413);
    assert.equal(a.json.code, "AVIARY_BODY_TOO_LARGE");
  });

  it("refuses JSON nested deeper than 64 levels with 400, at any depth of the spec", async () => {
    const deep = `${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}`;
    for (const body of [deep, JSON.stringify({ spec: "x", file: "y" }).replace('"x"', deep)]) {
      const a = await send(
        admin,
        "POST",
        "/api/v1/apply",
        { "content-type": "application/json" },
        body,
      );
      assert.equal(a.status, 400, JSON.stringify(a.json));
      assert.equal(a.json.code, "AVIARY_BAD_REQUEST");
      assert.match(a.json.detail, /nested more than 64 levels/);
    }
  });

  it("refuses __proto__ and constructor.prototype keys with 400, polluting nothing", async () => {
    for (const [body, key] of [
      ['{"version":"v2","targets":["http://127.0.0.1:9"],"__proto__":{"polluted":1}}', "__proto__"],
      ['{"spec":{"services":[{"__proto__":{"polluted":1}}]}}', "__proto__"],
      ['{"spec":{"constructor":{"prototype":{"polluted":1}}}}', "constructor"],
    ] as const) {
      const a = await send(
        admin,
        "POST",
        "/api/v1/apply",
        { "content-type": "application/json" },
        body,
      );
      assert.equal(a.status, 400, JSON.stringify(a.json));
      assert.equal(a.json.code, "AVIARY_BAD_REQUEST");
      assert.ok(a.json.detail.includes(key), a.json.detail);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

/** An SSE request on its own connection; resolves with its status once the head is in. */
function openStream(admin: Admin, token: string): Promise<{ status: number; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = get(
      `${admin.base}/api/v1/stream`,
      { headers: token === "" ? {} : { authorization: `Bearer ${token}` }, agent: false },
      (res: IncomingMessage) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, close: () => req.destroy() });
      },
    );
    req.on("error", reject);
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; ) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe("event streams: a limit per token besides the global one", { timeout: 20_000 }, () => {
  let admin: Admin;
  before(async () => {
    admin = await start({ streams: { maxStreams: 5, maxStreamsPerToken: 2 } });
  });
  after(() => admin.close());

  it("refuses a token's stream past its limit with 429, others still get theirs", async () => {
    const mine = [await openStream(admin, READER_TOKEN), await openStream(admin, READER_TOKEN)];
    assert.deepEqual(
      mine.map((s) => s.status),
      [200, 200],
    );

    const a = await send(admin, "GET", "/api/v1/stream", {
      authorization: `Bearer ${READER_TOKEN}`,
    });
    assert.equal(a.status, 429);
    assert.match(a.contentType, /^application\/problem\+json/);
    assert.equal(a.json.code, "AVIARY_TOO_MANY_STREAMS_FOR_TOKEN");
    assert.match(a.json.detail, /the token 'reader' has 2 event streams open.*\(2\)/);

    // The operator token counts like any other: two, then refused; the global slots are left.
    const op = [await openStream(admin, admin.operator), await openStream(admin, admin.operator)];
    assert.deepEqual(
      op.map((s) => s.status),
      [200, 200],
    );
    assert.equal((await openStream(admin, admin.operator)).status, 429);

    // A closed stream gives its slot back.
    mine[0]?.close();
    await until("the reader's slot to come back", async () => {
      const s = await openStream(admin, READER_TOKEN);
      if (s.status === 200) mine.push(s);
      return s.status === 200;
    });
    for (const s of [...mine, ...op]) s.close();
  });

  it("counts anonymous reads (auth.anonymousRead) per client address", async () => {
    const open = await start(
      { streams: { maxStreams: 5, maxStreamsPerToken: 1 } },
      { auth: { anonymousRead: true } },
    );
    try {
      const first = await openStream(open, "");
      assert.equal(first.status, 200);
      const a = await send(open, "GET", "/api/v1/stream", { authorization: "" });
      assert.equal(a.status, 429);
      assert.match(a.json.detail, /anonymous reads from 127\.0\.0\.1 has 1 event streams open/);
      // A token is counted as itself, not as the address it comes from.
      const reader = await openStream(open, READER_TOKEN);
      assert.equal(reader.status, 200);
      first.close();
      reader.close();
    } finally {
      await open.close();
    }
  });

  it("answers 503 past the global limit, 429 first for a token already at its own", async () => {
    const fresh = await start({ streams: { maxStreams: 3, maxStreamsPerToken: 2 } });
    try {
      const open = [
        await openStream(fresh, READER_TOKEN),
        await openStream(fresh, READER_TOKEN),
        await openStream(fresh, fresh.operator),
      ];
      assert.deepEqual(
        open.map((s) => s.status),
        [200, 200, 200],
      );
      const global = await send(fresh, "GET", "/api/v1/stream", {});
      assert.equal(global.status, 503);
      assert.equal(global.json.code, "AVIARY_TOO_MANY_STREAMS");
      const own = await send(fresh, "GET", "/api/v1/stream", {
        authorization: `Bearer ${READER_TOKEN}`,
      });
      assert.equal(own.status, 429);
      for (const s of open) s.close();
    } finally {
      await fresh.close();
    }
  });
});

/** A TCP connection to the admin port that sends `bytes` (maybe nothing) and then idles. */
async function idle(port: number, bytes = ""): Promise<Socket> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => {});
  socket.resume(); // read what the server sends, so its close is seen
  await once(socket, "connect");
  if (bytes !== "") socket.write(bytes);
  return socket;
}

function closed(socket: Socket): Promise<void> {
  return socket.destroyed || socket.readyState === "closed"
    ? Promise.resolve()
    : once(socket, "close").then(() => {});
}

describe("the admin port under a flood of idle connections", { timeout: 20_000 }, () => {
  let admin: Admin;
  before(async () => {
    admin = await start({ adminLimits: { maxConnections: 8, headersTimeoutMs: 1_000 } });
  });
  after(() => admin.close());

  it("holds at most maxConnections, closes the rest at accept and counts them", async () => {
    const held = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        idle(admin.port, i % 2 ? "GET /healthz HTTP/1.1\r\n" : ""),
      ),
    );
    await until("the server to hold 8 connections", async () => {
      const n = await new Promise<number>((r) =>
        admin.aviary.admin.server.getConnections((_, c) => r(c)),
      );
      return n === 8;
    });
    const extra = await Promise.all(Array.from({ length: 3 }, () => idle(admin.port)));
    await Promise.all(extra.map(closed));

    for (const s of held) s.destroy();
    await until("the held connections to be gone", async () => {
      const n = await new Promise<number>((r) =>
        admin.aviary.admin.server.getConnections((_, c) => r(c)),
      );
      return n === 0;
    });
    const metrics = await request(`${admin.base}/metrics`);
    const text = await metrics.body.text();
    const line = /^aviary_admin_connections_refused_total (\d+)$/m.exec(text);
    assert.ok(line, text.slice(0, 500));
    assert.equal(Number(line[1]), 3);
    const health = await request(`${admin.base}/healthz`);
    assert.equal(health.statusCode, 200);
    await health.body.text();
  });

  it("closes a connection that sends nothing, or half a request head, within the timeout", async () => {
    const startedAt = Date.now();
    const silent = await idle(admin.port);
    const half = await idle(admin.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    // Node's own defaults would keep them 30-60 s: give up well before, and fail.
    await Promise.race([
      Promise.all([closed(silent), closed(half)]),
      new Promise((r) => setTimeout(r, 6_000)),
    ]);
    silent.destroy();
    half.destroy();
    const took = Date.now() - startedAt;
    // headersTimeout 1 s, checked every second: well under the 60 s idle socket timeout.
    assert.ok(took < 5_000, `closed after ${took} ms`);
  });
});
