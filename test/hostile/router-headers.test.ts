/**
 * Headers a hostile client controls: `Connection` naming the proxy's own headers (or Host),
 * and forwarding headers it made up. Real router, real echo upstream (which answers with the
 * headers it received), raw sockets where a client library would tidy the request.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import {
  rawExchange,
  startRouter,
  startUpstream,
  type TestRouter,
  type Upstream,
} from "../fixtures.js";

type Echo = { headers: Record<string, string | undefined> };

/** Sends a raw GET and returns the headers the upstream received. */
async function rawEcho(port: number, headerLines: string): Promise<Echo["headers"]> {
  const text = await rawExchange(
    port,
    `GET /h HTTP/1.1\r\nHost: shop.example.com\r\n${headerLines}Connection: close\r\n\r\n`,
  );
  assert.match(text, /^HTTP\/1\.1 200 /);
  return (JSON.parse(dechunk(text.slice(text.indexOf("\r\n\r\n") + 4))) as Echo).headers;
}

/** The payload of a chunked body. */
function dechunk(body: string): string {
  let out = "";
  let at = 0;
  for (;;) {
    const eol = body.indexOf("\r\n", at);
    const size = Number.parseInt(body.slice(at, eol), 16);
    if (!(size > 0)) return out;
    out += body.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

const SPOOFED = {
  "x-forwarded-for": "10.6.6.6",
  "x-forwarded-proto": "https",
  "x-forwarded-host": "admin.internal",
  forwarded: "for=10.6.6.6;host=admin.internal;proto=https",
  "x-forwarded-port": "443",
  "x-forwarded-prefix": "/admin",
  "x-real-ip": "10.6.6.6",
};

describe("Connection cannot remove what the proxy adds", () => {
  let upstream: Upstream;
  let router: TestRouter;
  before(async () => {
    upstream = await startUpstream("app");
    router = await startRouter([
      {
        name: "shop",
        match: { host: "shop.example.com" },
        stable: { version: "v1", targets: [upstream.url] },
      },
    ]);
  });
  after(async () => {
    await router.close();
    await upstream.close();
  });

  it("keeps X-Forwarded-*, Forwarded and Via when Connection names them", async () => {
    const headers = await rawEcho(
      router.port,
      "Connection: X-Forwarded-For, via, x-forwarded-proto, X-Forwarded-Host, forwarded\r\n",
    );
    assert.equal(headers["x-forwarded-for"], "127.0.0.1");
    assert.equal(headers["x-forwarded-proto"], "http");
    assert.equal(headers["x-forwarded-host"], "shop.example.com");
    assert.equal(headers.forwarded, "for=127.0.0.1;host=shop.example.com;proto=http");
    assert.equal(headers.via, "1.1 aviary");
  });

  it("never removes Host, so the upstream sees the name that was routed on", async () => {
    const headers = await rawEcho(router.port, "Connection: host, keep-alive\r\n");
    assert.equal(headers.host, "shop.example.com");
  });

  it("still removes the client's own headers that Connection names", async () => {
    const headers = await rawEcho(
      router.port,
      "X-Hop: 1\r\nX-Kept: 2\r\nVia: 1.0 client-side\r\nConnection: x-hop, via\r\n",
    );
    assert.equal(headers["x-hop"], undefined);
    assert.equal(headers["x-kept"], "2");
    // The client's Via went with Connection; Aviary's own hop is still there.
    assert.equal(headers.via, "1.1 aviary");
  });
});

describe("forwarding headers from an untrusted client", () => {
  let upstream: Upstream;
  let router: TestRouter;
  before(async () => {
    upstream = await startUpstream("app");
    router = await startRouter(
      [
        {
          name: "shop",
          match: { pathPrefix: "/" },
          stable: { version: "v1", targets: [upstream.url] },
        },
      ],
      // Trusts a range the test client (127.0.0.1) is not in.
      { proxy: { trustedProxies: ["10.0.0.0/8", "2001:db8::/32"] } },
    );
  });
  after(async () => {
    await router.close();
    await upstream.close();
  });

  it("replaces the client's X-Forwarded-*, Forwarded and drops what Aviary does not set", async () => {
    const res = await request(`${router.url}/h`, {
      headers: { host: "shop.example.com", ...SPOOFED },
    });
    const { headers } = (await res.body.json()) as Echo;
    assert.equal(headers["x-forwarded-for"], "127.0.0.1");
    assert.equal(headers["x-forwarded-proto"], "http");
    assert.equal(headers["x-forwarded-host"], "shop.example.com");
    assert.equal(headers.forwarded, "for=127.0.0.1;host=shop.example.com;proto=http");
    assert.equal(headers["x-forwarded-port"], undefined);
    assert.equal(headers["x-forwarded-prefix"], undefined);
    assert.equal(headers["x-real-ip"], undefined);
  });
});

describe("forwarding headers from a trusted proxy", () => {
  let upstream: Upstream;
  let router: TestRouter;
  before(async () => {
    upstream = await startUpstream("app");
    router = await startRouter(
      [
        {
          name: "shop",
          match: { pathPrefix: "/" },
          stable: { version: "v1", targets: [upstream.url] },
        },
      ],
      { proxy: { trustedProxies: ["127.0.0.0/8"] } },
    );
  });
  after(async () => {
    await router.close();
    await upstream.close();
  });

  it("keeps the proxy's values and appends Aviary's hop", async () => {
    const res = await request(`${router.url}/h`, {
      headers: { host: "shop.example.com", ...SPOOFED },
    });
    const { headers } = (await res.body.json()) as Echo;
    assert.equal(headers["x-forwarded-for"], "10.6.6.6, 127.0.0.1");
    assert.equal(headers["x-forwarded-proto"], "https");
    assert.equal(headers["x-forwarded-host"], "admin.internal");
    assert.equal(
      headers.forwarded,
      "for=10.6.6.6;host=admin.internal;proto=https, for=127.0.0.1;host=shop.example.com;proto=http",
    );
    assert.equal(headers["x-forwarded-port"], "443");
    assert.equal(headers["x-real-ip"], "10.6.6.6");
  });

  it("sets what a trusted proxy did not send", async () => {
    const res = await request(`${router.url}/h`, { headers: { host: "shop.example.com" } });
    const { headers } = (await res.body.json()) as Echo;
    assert.equal(headers["x-forwarded-for"], "127.0.0.1");
    assert.equal(headers["x-forwarded-proto"], "http");
    assert.equal(headers["x-forwarded-host"], "shop.example.com");
  });
});

describe("the trustedProxies setting", () => {
  it("refuses what is not an address or a CIDR range", async () => {
    await assert.rejects(
      startRouter([], { proxy: { trustedProxies: ["10.0.0.0/33"] } }),
      /CIDR range/,
    );
  });
});
