/**
 * Paths a hostile client controls: dot segments, plain or percent-encoded, doubled slashes,
 * escaped separators and malformed escapes, sent raw (a client library would tidy them).
 * Two real upstreams, `/shop` and everything else; each echoes the path it received.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  rawExchange,
  services,
  startRouter,
  startUpstream,
  type TestRouter,
  type Upstream,
} from "../fixtures.js";

describe("paths are normalised before the prefix match and forwarded as matched", () => {
  let shop: Upstream;
  let rest: Upstream;
  let router: TestRouter;
  before(async () => {
    shop = await startUpstream("shop");
    rest = await startUpstream("rest");
    router = await startRouter([
      {
        name: "shop",
        match: { pathPrefix: "/shop" },
        stable: { version: "v1", targets: [shop.url] },
      },
      { name: "rest", match: { pathPrefix: "/" }, stable: { version: "v1", targets: [rest.url] } },
    ]);
  });
  after(async () => {
    await router.close();
    await shop.close();
    await rest.close();
  });

  /** Sends `target` raw; returns the status and, when answered by an upstream, which and what path. */
  async function send(target: string): Promise<{ status: number; name?: string; url?: string }> {
    const text = await rawExchange(
      router.port,
      `GET ${target} HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n`,
    );
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1]);
    const name = /\r\nx-upstream: (\w+)\r\n/i.exec(text)?.[1];
    if (name === undefined) return { status };
    const body = text.slice(text.indexOf("\r\n\r\n") + 4);
    const json = body.slice(body.indexOf("{"), body.lastIndexOf("}") + 1);
    return { status, name, url: (JSON.parse(json) as { url: string }).url };
  }

  it("sends dot segments that leave /shop to the upstream they resolve to, with the resolved path", async () => {
    for (const target of [
      "/shop/../admin",
      "/shop/%2e%2e/admin",
      "/shop/%2E%2E/admin",
      "/shop/.%2e/admin",
      "/shop//../admin",
      "/shop/./../admin",
    ]) {
      assert.deepEqual(await send(target), { status: 200, name: "rest", url: "/admin" }, target);
    }
  });

  it("forwards the normalised path to the upstream that matched it, query untouched", async () => {
    assert.deepEqual(await send("/shop/%2e/cart//items?next=/../admin&x=%2e%2e"), {
      status: 200,
      name: "shop",
      url: "/shop/cart/items?next=/../admin&x=%2e%2e",
    });
    assert.deepEqual(await send("/%73hop/cart"), { status: 200, name: "shop", url: "/shop/cart" });
    assert.deepEqual(await send("//shop"), { status: 200, name: "shop", url: "/shop" });
  });

  it("clamps a path that climbs above the root at the root", async () => {
    assert.deepEqual(await send("/../../shop/x"), { status: 200, name: "shop", url: "/shop/x" });
  });

  it("keeps escaped slashes escaped, inside the segment they are in", async () => {
    // `..%2Fadmin` is one segment under /shop; it cannot climb out of it here.
    assert.deepEqual(await send("/shop/..%2fadmin"), {
      status: 200,
      name: "shop",
      url: "/shop/..%2Fadmin",
    });
    // Not a segment boundary either: `/shop%2F` is not under /shop.
    assert.equal((await send("/shop%2F..%2Fadmin")).name, "rest");
  });

  it("matches prefixes by whole segments", async () => {
    assert.equal((await send("/shopping")).name, "rest");
    assert.equal((await send("/shop")).name, "shop");
    assert.equal((await send("/shop?x")).name, "shop");
  });

  it("refuses malformed escapes, backslashes and # with 400, reaching no upstream", async () => {
    const before = shop.received.length + rest.received.length;
    for (const target of [
      "/shop/%zz",
      "/shop/%",
      "/shop\\..\\admin",
      "/shop/..\\admin",
      "/shop#/../admin",
    ]) {
      assert.deepEqual(await send(target), { status: 400 }, target);
    }
    assert.equal(shop.received.length + rest.received.length, before);
  });
});

describe("a pathPrefix is written as the paths it is matched against", () => {
  const service = (pathPrefix: string) => [
    {
      name: "a",
      match: { pathPrefix },
      stable: { version: "v1", targets: ["http://127.0.0.1:1"] },
    },
  ];

  it("refuses a prefix no normalised path could match, naming the one to write", () => {
    assert.throws(() => services(service("/api//v1")), /write \/api\/v1/);
    assert.throws(() => services(service("/shop/../admin")), /write \/admin/);
    assert.throws(() => services(service("/%61pi")), /write \/api/);
    assert.throws(() => services(service("/a%2fb")), /write \/a%2Fb/);
    assert.throws(() => services(service("/a%zz")), /not a valid path/);
  });

  it("accepts prefixes already normalised, with or without a trailing slash", () => {
    for (const p of ["/", "/api", "/api/", "/a%2Fb", "/.well-known"])
      assert.equal(services(service(p))[0]?.match.pathPrefix, p);
  });
});
