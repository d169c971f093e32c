/**
 * Upgrades a hostile client controls: a body on the handshake, refused upgrades on a kept-alive
 * upstream connection, and the version an upgrade lands on. The upstream here is a raw TCP
 * server that parses just enough HTTP/1.1 to behave like a real WebSocket server behind an
 * auth check, and records exactly which bytes arrived on which connection.
 */

import assert from "node:assert/strict";
import { once } from "node:events";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { deadPort, startRouter, type TestRouter } from "../fixtures.js";

interface Connection {
  /** Every byte received, in order. */
  bytes: string;
  /** The request heads parsed on it (the tunnel's bytes after a 101 are not heads). */
  heads: string[];
}

interface RawUpstream {
  url: string;
  connections: Connection[];
  close(): Promise<void>;
}

/**
 * `GET /ws/refuse…` is answered 401 at once, kept alive, with the announced body read (and
 * thrown away) afterwards, as servers that check auth before reading a body do; any other
 * upgrade gets 101 and an echo; a request without Upgrade gets 200 naming the upstream.
 */
async function startRawUpstream(name: string): Promise<RawUpstream> {
  const connections: Connection[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const conn: Connection = { bytes: "", heads: [] };
    connections.push(conn);
    let buffered = "";
    let bodyLeft = 0;
    let tunnel = false;
    socket.on("data", (chunk: Buffer) => {
      const text = chunk.toString("latin1");
      conn.bytes += text;
      if (tunnel) {
        socket.write(chunk);
        return;
      }
      buffered += text;
      for (;;) {
        if (bodyLeft > 0) {
          const take = Math.min(bodyLeft, buffered.length);
          buffered = buffered.slice(take);
          bodyLeft -= take;
          if (bodyLeft > 0) return;
        }
        const end = buffered.indexOf("\r\n\r\n");
        if (end === -1) return;
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        conn.heads.push(head);
        bodyLeft = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (!/\r\nupgrade:/i.test(head)) {
          socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${name.length}\r\n\r\n${name}`);
        } else if (head.startsWith("GET /ws/refuse")) {
          socket.write(
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: 6\r\n\r\nno way",
          );
        } else {
          socket.write(
            `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\nx-upstream: ${name}\r\n\r\n`,
          );
          tunnel = true;
          if (buffered.length > 0) socket.write(buffered, "latin1");
          return;
        }
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A client connection that collects what it reads. */
async function open(port: number): Promise<{ socket: Socket; read: () => string }> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  let text = "";
  socket.on("data", (c: Buffer) => {
    text += c.toString("latin1");
  });
  socket.on("error", () => {});
  return { socket, read: () => text };
}

/** Polls (10 ms steps, 3 s at most) until `done` holds; the test then asserts on the state. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
}

function upgradeHead(path: string, extra = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: app.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;
}

const window = () => ({ service: "app", from: Date.now() - 10_000, to: Date.now() + 1000 });

describe("upgrades: one upstream connection each, no body", () => {
  let upstream: RawUpstream;
  let router: TestRouter;
  before(async () => {
    upstream = await startRawUpstream("stable");
    router = await startRouter([
      {
        name: "app",
        match: { pathPrefix: "/" },
        stable: { version: "v1", targets: [upstream.url] },
      },
    ]);
  });
  after(async () => {
    await router.close();
    await upstream.close();
  });

  it("never reuses the connection of a refused upgrade for the next user's upgrade", async () => {
    const first = upstream.connections.length;
    const a = await open(router.port);
    a.socket.write(upgradeHead("/ws/refuse", "Cookie: user=alice\r\n"));
    await until(() => a.read().includes("no way"));
    assert.match(a.read(), /^HTTP\/1\.1 401 /);
    assert.match(a.read(), /\r\nconnection: close\r\n/i);
    assert.match(a.read(), /\r\nvia: 1\.1 aviary\r\n/i);
    a.socket.destroy();

    const b = await open(router.port);
    b.socket.write(upgradeHead("/ws/refuse", "Cookie: user=bob\r\n"));
    await until(() => b.read().includes("no way"));
    b.socket.destroy();

    const conns = upstream.connections.slice(first);
    assert.equal(conns.length, 2, "each upgrade on a connection of its own");
    for (const [i, user] of ["alice", "bob"].entries()) {
      const conn = conns[i] as Connection;
      assert.equal(conn.heads.length, 1, `one request on connection ${i}`);
      assert.ok(conn.bytes.startsWith("GET /ws/refuse HTTP/1.1\r\n"));
      assert.match(conn.bytes, new RegExp(`\\r\\nCookie: user=${user}\\r\\n`));
    }
  });

  it("refuses an upgrade announcing a body that never comes; the next user's request stays its own", async () => {
    const first = upstream.connections.length;
    const a = await open(router.port);
    // 4 KiB announced, none sent: upstream would swallow whatever comes next on the connection.
    a.socket.write(upgradeHead("/ws/refuse", "Content-Length: 4096\r\nCookie: user=alice\r\n"));
    await until(() => a.read().includes("\r\n\r\n"));
    assert.match(a.read(), /^HTTP\/1\.1 400 /);
    a.socket.destroy();

    const b = await open(router.port);
    b.socket.write(upgradeHead("/ws/refuse", "Cookie: user=bob\r\n"));
    await until(() => b.read().includes("no way"));
    assert.match(b.read(), /^HTTP\/1\.1 401 /);
    b.socket.destroy();

    const conns = upstream.connections.slice(first);
    assert.equal(conns.length, 1, "alice's upgrade never reached the upstream");
    assert.equal(conns[0]?.heads.length, 1);
    assert.ok(conns[0]?.bytes.startsWith("GET /ws/refuse HTTP/1.1\r\n"));
    assert.match(conns[0]?.bytes ?? "", /\r\nCookie: user=bob\r\n/);
  });

  it("refuses an upgrade with a body, by Content-Length or chunked, and forwards none of it", async () => {
    const first = upstream.connections.length;
    for (const framing of [
      "Content-Length: 5\r\n\r\nhello",
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ]) {
      const c = await open(router.port);
      c.socket.write(upgradeHead("/ws/echo").slice(0, -2) + framing);
      await until(() => c.read().includes("\r\n\r\n"));
      assert.match(c.read(), /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(c.read(), /cannot carry a body/);
      c.socket.destroy();
    }
    assert.equal(upstream.connections.length, first);
  });

  it("refuses an HTTP/1.1 upgrade without Host, or with two, and counts each as the router's refusal", async () => {
    const first = upstream.connections.length;
    const refusedBefore = router.router.rejections.requests.bad_request;
    for (const head of [
      upgradeHead("/ws/echo").replace("Host: app.example\r\n", ""),
      upgradeHead("/ws/echo", "Host: other.example\r\n"),
    ]) {
      const c = await open(router.port);
      c.socket.write(head);
      await until(() => c.read().includes("\r\n\r\n"));
      assert.match(c.read(), /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(c.read(), /exactly one Host/);
      c.socket.destroy();
    }
    assert.equal(upstream.connections.length, first, "nothing reached the upstream");
    assert.equal(router.router.rejections.requests.bad_request, refusedBefore + 2);
  });

  it("accepts Content-Length: 0 and pipes two users' tunnels on separate connections", async () => {
    const first = upstream.connections.length;
    const users = [];
    for (const user of ["alice", "bob"]) {
      const c = await open(router.port);
      c.socket.write(upgradeHead("/ws/echo", `Content-Length: 0\r\nCookie: user=${user}\r\n`));
      await until(() => c.read().includes("\r\n\r\n"));
      assert.match(c.read(), /^HTTP\/1\.1 101 /);
      c.socket.write(`frame from ${user}`);
      await until(() => c.read().includes(`frame from ${user}`));
      assert.ok(c.read().endsWith(`frame from ${user}`));
      users.push(c);
    }
    for (const c of users) c.socket.destroy();
    const conns = upstream.connections.slice(first);
    assert.equal(conns.length, 2);
    for (const [i, user] of ["alice", "bob"].entries()) {
      const conn = conns[i] as Connection;
      assert.equal(conn.heads.length, 1);
      assert.match(
        conn.heads[0] as string,
        new RegExp(`\\r\\nCookie: user=${user}$|\\r\\nCookie: user=${user}\\r\\n`),
      );
      assert.ok(conn.bytes.endsWith(`\r\n\r\nframe from ${user}`));
    }
  });

  it("counts a refused upgrade like an ordinary response", async () => {
    const before = router.metrics.query({ ...window(), version: "v1" }).responses["4xx"];
    const c = await open(router.port);
    c.socket.write(upgradeHead("/ws/refuse"));
    await until(() => c.read().includes("no way"));
    c.socket.destroy();
    assert.equal(router.metrics.query({ ...window(), version: "v1" }).responses["4xx"], before + 1);
  });
});

describe("upgrades: the version and the failures", () => {
  let stable: RawUpstream;
  let canary: RawUpstream;
  let router: TestRouter;
  before(async () => {
    stable = await startRawUpstream("stable");
    canary = await startRawUpstream("canary");
    router = await startRouter([
      {
        name: "app",
        match: { pathPrefix: "/" },
        stable: { version: "v1", targets: [stable.url] },
        canary: { version: "v2", targets: [canary.url] },
        weight: 50,
        stickiness: { header: "x-user" },
      },
    ]);
  });
  after(async () => {
    await router.close();
    await stable.close();
    await canary.close();
  });

  it("lands each user on the same version as their ordinary requests", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const res = await request(`${router.url}/page`, { headers: { "x-user": `u${i}` } });
      const plain = await res.body.text();
      const c = await open(router.port);
      c.socket.write(upgradeHead("/ws/echo", `X-User: u${i}\r\n`));
      await until(() => c.read().includes("\r\n\r\n"));
      c.socket.destroy();
      assert.match(c.read(), new RegExp(`\\r\\nx-upstream: ${plain}\\r\\n`), `user u${i}`);
      seen.add(plain);
    }
    assert.deepEqual([...seen].sort(), ["canary", "stable"]);
  });

  it("sets the sticky cookie it minted on the 101, and the user's next requests follow it", async () => {
    const sticky = await startRouter([
      {
        name: "app",
        match: { pathPrefix: "/" },
        stable: { version: "v1", targets: [stable.url] },
        canary: { version: "v2", targets: [canary.url] },
        weight: 50,
        stickiness: { cookie: "uid", setCookie: true },
      },
    ]);
    try {
      for (let i = 0; i < 8; i++) {
        const c = await open(sticky.port);
        c.socket.write(upgradeHead("/ws/echo"));
        await until(() => c.read().includes("\r\n\r\n"));
        c.socket.destroy();
        const head = c.read();
        const uid = /\r\nset-cookie: uid=([^;]+);/i.exec(head)?.[1];
        assert.ok(uid, "the 101 carries the minted cookie");
        const upgradedTo = /\r\nx-upstream: (\w+)\r\n/.exec(head)?.[1];
        const res = await request(`${sticky.url}/page`, { headers: { cookie: `uid=${uid}` } });
        assert.equal(await res.body.text(), upgradedTo);
      }
    } finally {
      await sticky.close();
    }
  });

  it("ends open tunnels when the router drains, instead of waiting on them for ever", async () => {
    const draining = await startRouter([
      { name: "app", match: { pathPrefix: "/" }, stable: { version: "v1", targets: [stable.url] } },
    ]);
    const c = await open(draining.port);
    c.socket.write(upgradeHead("/ws/echo"));
    await until(() => c.read().includes("\r\n\r\n"));
    assert.match(c.read(), /^HTTP\/1\.1 101 /);
    // An open WebSocket kept server.close() from ever calling back: close() never resolved.
    await Promise.all([draining.close(), once(c.socket, "close")]);
  });

  it("keeps an open tunnel past the response timeout, which covers only the handshake", async () => {
    const quick = await startRouter([
      {
        name: "app",
        match: { pathPrefix: "/" },
        stable: { version: "v1", targets: [stable.url] },
        timeouts: { response: "200ms" },
      },
    ]);
    try {
      const c = await open(quick.port);
      c.socket.write(upgradeHead("/ws/echo"));
      await until(() => c.read().includes("\r\n\r\n"));
      assert.match(c.read(), /^HTTP\/1\.1 101 /);
      // Idle for longer than the response timeout, as a quiet WebSocket is.
      await new Promise((r) => setTimeout(r, 500));
      c.socket.write("still here");
      await until(() => c.read().includes("still here") || c.socket.destroyed);
      c.socket.destroy();
      assert.ok(c.read().endsWith("still here"));
    } finally {
      await quick.close();
    }
  });

  it("answers 502 and counts a connect failure when the upstream is down", async () => {
    const dead = await deadPort();
    const down = await startRouter([
      { name: "app", match: { pathPrefix: "/" }, stable: { version: "v1", targets: [dead] } },
    ]);
    try {
      const c = await open(down.port);
      c.socket.write(upgradeHead("/ws/echo"));
      await until(() => c.read().includes("upstream unavailable"));
      c.socket.destroy();
      assert.match(c.read(), /^HTTP\/1\.1 502 Bad Gateway\r\n/);
      assert.equal(down.metrics.query({ ...window(), version: "v1" }).failures.connect, 1);
    } finally {
      await down.close();
    }
  });
});
