import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import {
  rawExchange,
  startRouter,
  startUpstream,
  type TestRouter,
  type Upstream,
} from "./fixtures.js";

describe("HTTP semantics through the router", () => {
  let upstream: Upstream;
  let router: TestRouter;
  before(async () => {
    upstream = await startUpstream("stable", (req, res, body) => {
      if (req.url === "/echo") {
        res.writeHead(200, {
          "content-type": "application/octet-stream",
          connection: "keep-alive, x-secret",
          "x-secret": "s",
          "keep-alive": "timeout=5",
        });
        res.end(body);
        return;
      }
      if (req.url === "/stream") {
        res.writeHead(200, { "content-type": "text/plain" });
        let n = 0;
        const tick = setInterval(() => {
          res.write(`chunk ${n}\n`);
          if (++n === 5) {
            clearInterval(tick);
            res.end();
          }
        }, 5);
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ headers: req.headers, bodyBytes: body.length }));
    });
    upstream.server.on("upgrade", (req, socket, head) => {
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${req.headers.upgrade}\r\nconnection: Upgrade\r\n\r\n`,
      );
      if (head.length > 0) socket.write(head);
      socket.pipe(socket); // echo
    });
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

  it("drops hop-by-hop headers and adds X-Forwarded-* and Via", async () => {
    const res = await request(`${router.url}/headers`, {
      headers: {
        "x-forwarded-for": "203.0.113.9",
        via: "1.0 edge",
        "proxy-authorization": "Basic c2VjcmV0",
        te: "trailers",
        "x-keep-me": "kept",
        host: "shop.example.com",
      },
    });
    const { headers } = (await res.body.json()) as { headers: Record<string, string> };
    // The client is no trusted proxy: its X-Forwarded-For is replaced, not appended to.
    assert.equal(headers["x-forwarded-for"], "127.0.0.1");
    assert.equal(headers["x-forwarded-proto"], "http");
    assert.equal(headers["x-forwarded-host"], "shop.example.com");
    assert.equal(headers.host, "shop.example.com");
    assert.equal(headers.via, "1.0 edge, 1.1 aviary");
    assert.equal(headers["x-keep-me"], "kept");
    for (const gone of ["proxy-authorization", "te"]) assert.equal(headers[gone], undefined, gone);
  });

  it("drops the request headers a Connection header names", async () => {
    const out = await rawExchange(
      router.port,
      "GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close, X-Drop-Me\r\nX-Drop-Me: gone\r\nX-Keep: kept\r\n\r\n",
    );
    const { headers } = JSON.parse(out.slice(out.indexOf("{"), out.lastIndexOf("}") + 1)) as {
      headers: Record<string, string>;
    };
    assert.equal(headers["x-drop-me"], undefined);
    assert.equal(headers["x-keep"], "kept");
  });

  it("streams request and response bodies both ways, and strips hop-by-hop response headers", async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 7);
    const res = await request(`${router.url}/echo`, { method: "POST", body });
    const back = Buffer.from(await res.body.arrayBuffer());
    assert.equal(back.length, body.length);
    assert.ok(back.equals(body));
    assert.equal(res.headers["x-secret"], undefined, "named by Connection, so hop-by-hop");
    assert.notEqual(
      res.headers["keep-alive"],
      "timeout=5",
      "the upstream's Keep-Alive is its own, not the client's",
    );
    assert.equal(res.headers.via, "1.1 aviary");
  });

  it("passes a chunked request body of unknown length", async () => {
    async function* parts() {
      for (let i = 0; i < 10; i++) yield Buffer.alloc(1000, i);
    }
    const res = await request(`${router.url}/echo`, {
      method: "PUT",
      body: Readable.from(parts()),
    });
    assert.equal(Buffer.from(await res.body.arrayBuffer()).length, 10_000);
  });

  it("relays a streamed response as it is produced", async () => {
    const res = await request(`${router.url}/stream`);
    assert.equal(await res.body.text(), "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
  });

  it("answers a malformed request with 400", async () => {
    const out = await rawExchange(router.port, "GARBAGE\r\n\r\n");
    assert.match(out, /^HTTP\/1\.1 400 /);
  });

  it("refuses a request with both Content-Length and Transfer-Encoding (smuggling) with 400", async () => {
    const before = upstream.received.length;
    const out = await rawExchange(
      router.port,
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.match(out, /^HTTP\/1\.1 400 /);
    assert.equal(upstream.received.length, before, "nothing reached the upstream");
  });

  it("answers oversized request headers with 431", async () => {
    const out = await rawExchange(
      router.port,
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    assert.match(out, /^HTTP\/1\.1 431 /);
  });

  it("keeps client connections alive across requests", async () => {
    const socket = connect(router.port, "127.0.0.1");
    await once(socket, "connect");
    let text = "";
    socket.on("data", (c: Buffer) => {
      text += c.toString();
    });
    socket.write("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    for (let i = 0; i < 100 && (text.match(/HTTP\/1\.1 200/g) ?? []).length < 2; i++)
      await new Promise((r) => setTimeout(r, 10));
    socket.destroy();
    assert.equal((text.match(/HTTP\/1\.1 200/g) ?? []).length, 2);
  });

  it("passes a WebSocket upgrade through and pipes bytes both ways", async () => {
    const socket = connect(router.port, "127.0.0.1");
    await once(socket, "connect");
    socket.write(
      "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    let text = "";
    socket.on("data", (c: Buffer) => {
      text += c.toString("latin1");
    });
    for (let i = 0; i < 100 && !text.includes("\r\n\r\n"); i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.match(text, /^HTTP\/1\.1 101 /);
    assert.match(text, /via: 1\.1 aviary/i);
    text = "";
    socket.write("ping-through-aviary");
    for (let i = 0; i < 100 && !text.includes("ping-through-aviary"); i++)
      await new Promise((r) => setTimeout(r, 10));
    socket.destroy();
    assert.equal(text, "ping-through-aviary");
  });
});
