import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { MetricsRegistry } from "../src/dataplane/metrics/registry.js";
import { Router } from "../src/dataplane/router.js";
import { Spec } from "../src/spec/schema.js";
import { silentLogger } from "../src/util/log.js";
import { startRouter, startUpstream, type TestRouter, type Upstream } from "./fixtures.js";

describe("service matching by host and path", () => {
  let a: Upstream;
  let b: Upstream;
  let c: Upstream;
  let router: TestRouter;
  before(async () => {
    a = await startUpstream("a");
    b = await startUpstream("b");
    c = await startUpstream("c");
    router = await startRouter([
      { name: "any", match: { pathPrefix: "/" }, stable: { version: "v1", targets: [a.url] } },
      {
        name: "api",
        match: { host: "API.example.com" },
        stable: { version: "v1", targets: [b.url] },
      },
      {
        name: "api-v2",
        match: { host: "api.example.com", pathPrefix: "/v2" },
        stable: { version: "v1", targets: [c.url] },
      },
    ]);
  });
  after(async () => {
    await router.close();
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  const served = async (host: string, path: string) => {
    const res = await request(`${router.url}${path}`, { headers: { host } });
    return ((await res.body.json()) as { name: string }).name;
  };

  it("prefers a host match, then the longest path prefix, ignoring case and port", async () => {
    assert.equal(await served("api.example.com", "/v2/x"), "c");
    assert.equal(await served("Api.Example.com:8080", "/v1/x"), "b");
    assert.equal(await served("other.example.com", "/v2/x"), "a");
  });
});

describe("a router bound before it knows what to serve", () => {
  it("tells clients to retry (503, Retry-After) until opened, then answers 404", async () => {
    const router = new Router({
      metrics: new MetricsRegistry(),
      proxy: Spec.parse({ services: [] }).proxy,
      log: silentLogger(),
      startsClosed: true,
    });
    const { port } = await router.listen({ host: "127.0.0.1", port: 0 });
    try {
      const early = await request(`http://127.0.0.1:${port}/shop/`);
      assert.equal(early.statusCode, 503);
      assert.equal(early.headers["retry-after"], "1");
      assert.equal(await early.body.text(), "the router is starting\n");
      router.open();
      const late = await request(`http://127.0.0.1:${port}/shop/`);
      assert.equal(late.statusCode, 404);
      assert.equal(await late.body.text(), "no service matches this request\n");
    } finally {
      await router.close();
    }
  });
});
