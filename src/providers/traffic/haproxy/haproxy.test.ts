/**
 * The HAProxy provider against a real HAProxy, beyond the shared conformance suite: exact
 * stickiness for 1,000 users (header and cookie), the spec's static routes, the access-log
 * line, runtime state across a reload, drift after a restart from the original files, the
 * rendered configuration under `haproxy -c`, and typed errors for bad Runtime API answers.
 */

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { freePort, type HaproxyEngine, startHaproxy } from "../../../../test/engines/haproxy.js";
import { deadPort, startUpstream, type Upstream } from "../../../../test/fixtures.js";
import { bucketerFor } from "../../../dataplane/hash.js";
import { readCookie } from "../../../dataplane/request-view.js";
import type { TrafficState } from "../../../rollout/types.js";
import { HaproxySettings } from "../../../spec/schema.js";
import { systemClock } from "../../../util/clock.js";
import { silentLogger } from "../../../util/log.js";
import type { TrafficProvider } from "../provider.js";
import { TrafficProviderError } from "../provider.js";
import { servedOf, trafficDrift } from "../served.js";
import { createHaproxyProvider } from "./index.js";
import { mapPath } from "./layout.js";

const beta = { name: "beta", match: { headers: { "x-beta": { exact: "1" } } } };

/** Runs `fn` over `items`, `width` at a time. */
async function inBatches<T, R>(items: T[], width: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width)
    out.push(...(await Promise.all(items.slice(i, i + width).map(fn))));
  return out;
}

describe("haproxy provider against a real HAProxy", () => {
  const up: Record<string, Upstream> = {};
  let engine: HaproxyEngine;
  let provider: TrafficProvider;
  let logs: ReturnType<typeof createSocket>;
  const lines: string[] = [];
  const v = (name: string) => ({
    version: name.split("-")[1] as string,
    targets: [up[name]?.url as string],
  });

  before(async () => {
    for (const name of ["shop-v1", "shop-v2", "cart-v1", "cart-v2", "web-v1", "web-v2"])
      up[name] = await startUpstream(name);
    // Answers nothing: HAProxy's own 504 after the service's response timeout.
    up["slow-v1"] = await startUpstream("slow-v1", () => {});
    logs = createSocket("udp4");
    logs.on("message", (m) => lines.push(m.toString("latin1")));
    const logPort = await freePort();
    await new Promise<void>((r) => logs.bind(logPort, "127.0.0.1", r));
    engine = await startHaproxy({
      logs: `udp://127.0.0.1:${logPort}`,
      services: [
        {
          name: "shop",
          match: { pathPrefix: "/shop" },
          stable: v("shop-v1"),
          stickiness: { header: "x-user" },
          strategy: {
            steps: [{ setHeaderRoute: { name: "beta", match: beta.match } }, { setWeight: 25 }],
          },
        },
        {
          name: "cart",
          match: { host: "cart.example", pathPrefix: "/" },
          stable: v("cart-v1"),
          canary: v("cart-v2"),
          weight: 5,
          stickiness: { cookie: "sid", group: "carts" },
        },
        {
          name: "web",
          match: { pathPrefix: "/web" },
          stable: v("web-v1"),
          canary: v("web-v2"),
          routes: [
            { match: { headers: { "x-v": { exact: "two words" } } }, to: "canary" },
            { match: { cookies: { tier: { prefix: "gold" } } }, to: "canary" },
            { match: { query: { preview: { exact: "yes please" } } }, to: "canary" },
            { match: { headers: { "x-v": { prefix: "old" } } }, to: "stable" },
          ],
          weight: 100,
        },
        {
          name: "slow",
          match: { pathPrefix: "/slow" },
          stable: v("slow-v1"),
          timeouts: { response: "200ms", idle: "200ms" },
        },
      ],
    });
    const settings = engine.spec.dataplane.haproxy as HaproxySettings;
    provider = createHaproxyProvider(settings, { log: silentLogger(), clock: systemClock });
  });
  after(async () => {
    await provider?.close();
    await engine?.close();
    logs?.close();
    for (const u of Object.values(up)) await u.close();
  });

  async function answer(path: string, headers: Record<string, string> = {}): Promise<string> {
    const res = await request(`${engine.url}${path}`, { headers });
    await res.body.dump();
    const name = res.headers["x-upstream"];
    return typeof name === "string" ? (name.split("-")[1] as string) : `status ${res.statusCode}`;
  }
  const shop = (weight: number, extra: Partial<TrafficState> = {}): TrafficState => ({
    stable: v("shop-v1"),
    canary: v("shop-v2"),
    weight,
    headerRoutes: [],
    mirror: null,
    ...extra,
  });
  async function drift(service: string, s: TrafficState): Promise<string | undefined> {
    return trafficDrift(servedOf(s), (await provider.observe()).get(service));
  }

  it("puts 1,000 header-sticky users exactly where the embedded bucketer does, at 5, 25 and 50 %", async () => {
    const bucketer = bucketerFor("shop");
    // Latin-1 bytes too: Node reads header bytes as latin1, HAProxy's Lua hashes the same bytes.
    const users = Array.from({ length: 1000 }, (_, i) =>
      i % 10 === 0 ? `usér-${i}` : `user-${i}@example.com`,
    );
    for (const weight of [5, 25, 50]) {
      await provider.apply("shop", shop(weight));
      const got = await inBatches(users, 25, (u) => answer("/shop/x", { "x-user": u }));
      let canary = 0;
      users.forEach((u, i) => {
        const want = bucketer.bucket(u) < weight * 100 ? "v2" : "v1";
        assert.equal(got[i], want, `${u} at ${weight} %: bucket ${bucketer.bucket(u)}`);
        if (want === "v2") canary++;
      });
      assert.ok(canary > 0, `some users on the canary at ${weight} %`);
    }
    // Without a sticky key, a uniform draw: about half of 200 requests at 50 %.
    const keyless = await inBatches(Array.from({ length: 200 }), 25, () => answer("/shop/x"));
    const onCanary = keyless.filter((x) => x === "v2").length;
    assert.ok(onCanary > 60 && onCanary < 140, `${onCanary} of 200 keyless requests on the canary`);
  });

  it("puts 1,000 cookie-sticky users exactly where the embedded bucketer does (group, quotes, spaces)", async () => {
    const bucketer = bucketerFor("carts");
    const cookies = Array.from({ length: 1000 }, (_, i) =>
      i % 3 === 0 ? `a=1; sid="s-${i}"` : i % 3 === 1 ? `sid= s-${i} ;b=2` : `x=sid; sid=s-${i}`,
    );
    for (const weight of [5, 25, 50]) {
      await provider.apply("cart", {
        stable: v("cart-v1"),
        canary: v("cart-v2"),
        weight,
        headerRoutes: [],
        mirror: null,
      });
      const got = await inBatches(cookies, 25, (c) =>
        answer("/", { host: "cart.example:8080", cookie: c }),
      );
      cookies.forEach((c, i) => {
        const key = readCookie(c, "sid") as string;
        const want = bucketer.bucket(key) < weight * 100 ? "v2" : "v1";
        assert.equal(got[i], want, `cookie ${c} at ${weight} %`);
      });
    }
    assert.equal(await answer("/", { host: "other.example" }), "status 404", "no service, 404");
  });

  it("serves the spec's static routes (header, cookie, query; exact and prefix) before the weight", async () => {
    assert.equal(await answer("/web/a", { "x-v": "old-client" }), "v1", "stable route");
    await provider.apply("web", {
      stable: v("web-v1"),
      canary: v("web-v2"),
      weight: 0,
      headerRoutes: [],
      mirror: null,
    });
    assert.equal(await answer("/web/a"), "v1");
    assert.equal(await answer("/web/a", { "x-v": "two words" }), "v2");
    assert.equal(await answer("/web/a", { "x-v": "two" }), "v1");
    assert.equal(await answer("/web/a", { cookie: "a=b; tier=gold-plus" }), "v2");
    assert.equal(await answer("/web/a", { cookie: "tier=silver" }), "v1");
    assert.equal(await answer("/web/a?x=1&preview=yes+please"), "v2");
    assert.equal(await answer("/web/a?preview=yes%20please"), "v2");
    assert.equal(await answer("/web/a?preview=no"), "v1");
    assert.equal(await answer("/webx"), "status 404", "whole segments only");
  });

  it("logs one line per request in Aviary's format, with fail= when no upstream answered", async () => {
    lines.length = 0;
    await provider.apply(
      "shop",
      shop(100, { canary: { version: "v9", targets: [await deadPort()] } }),
    );
    await answer("/shop/logged", { "x-user": "u" });
    await provider.apply("shop", shop(0));
    await answer("/shop/logged", { "x-user": "u" });
    assert.equal(await answer("/slow/"), "status 504");
    const until = Date.now() + 5_000;
    while (lines.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    // HAProxy ends each datagram with one LF, the syslog framing; the body is what precedes it.
    for (const l of lines) assert.ok(l.endsWith("\n") && !l.endsWith("\n\n"), JSON.stringify(l));
    const bodies = lines.map((l) => l.slice(l.indexOf("aviary1 "), -1));
    assert.match(
      bodies[0] ?? "",
      /^aviary1 svc=shop ver=v9 role=canary st=503 ms=\d+ fail=connect$/,
      lines[0],
    );
    assert.match(bodies[1] ?? "", /^aviary1 svc=shop ver=v1 role=stable st=200 ms=\d+$/, lines[1]);
    assert.match(
      bodies[2] ?? "",
      /^aviary1 svc=slow ver=v1 role=stable st=504 ms=\d+ fail=timeout$/,
      lines[2],
    );
  });

  it("keeps weight, versions and routes across a reload; slots come back as rendered, as drift, and one apply repairs them", async () => {
    const s = shop(25, { headerRoutes: [beta] });
    await provider.apply("shop", s);
    assert.equal(await drift("shop", s), undefined);
    const onCanary = "user-1@example.com";
    assert.ok(bucketerFor("shop").bucket(onCanary) < 2500, "a user the canary has at 25 %");
    assert.match(readFileSync(mapPath(engine.mapsDir, "shop"), "utf8"), /^weight 2500$/m);
    await engine.reload();
    const after = (await provider.observe()).get("shop");
    assert.equal(after?.weight, 25, "the weight came back from the map file");
    assert.equal(after?.canary, "v2");
    assert.deepEqual(after?.routes, ["beta"]);
    assert.match((await drift("shop", s)) ?? "", /^canary targets .* but none served$/);
    // Meanwhile the canary's users get stable, not a 503.
    assert.equal(await answer("/shop/", { "x-user": onCanary }), "v1");
    await provider.apply("shop", s);
    assert.equal(await drift("shop", s), undefined);
    assert.equal(await answer("/shop/", { "x-user": onCanary }), "v2");
    assert.equal(await answer("/shop/", { "x-user": "nobody", "x-beta": "1" }), "v2");
  });

  it("shows a restart from the original configuration as drift, and one apply repairs it", async () => {
    const s = shop(50, { headerRoutes: [beta] });
    await provider.apply("shop", s);
    await engine.restart();
    const d = await drift("shop", s);
    assert.match(d ?? "", /canary v2 but none served/);
    assert.equal(
      await answer("/shop/", { "x-user": "user-1@example.com" }),
      "v1",
      "observe told the truth",
    );
    await provider.apply("shop", s);
    assert.equal(await drift("shop", s), undefined);
    assert.equal(await answer("/shop/", { "x-user": "user-1@example.com" }), "v2");
  });

  it("runs overlapping calls on one service in order: the last state wins", async () => {
    const states = [5, 25, 50, 75].map((w) => shop(w));
    await Promise.all(states.map((s) => provider.apply("shop", s)));
    assert.equal(await drift("shop", states[3] as TrafficState), undefined);
    assert.match(readFileSync(mapPath(engine.mapsDir, "shop"), "utf8"), /^weight 7500$/m);
  });

  it("refuses a managed route the configuration lacks as not-configured, naming it", async () => {
    const gamma = { name: "gamma", match: { headers: { "x-gamma": { exact: "1" } } } };
    await assert.rejects(
      provider.apply("shop", shop(10, { headerRoutes: [gamma] })),
      (e) =>
        e instanceof TrafficProviderError &&
        e.kind === "not-configured" &&
        /gamma/.test(e.message) &&
        /re-render/.test(e.message),
    );
    const changed = { name: "beta", match: { headers: { "x-beta": { exact: "2" } } } };
    await assert.rejects(
      provider.apply("shop", shop(10, { headerRoutes: [changed] })),
      (e) => e instanceof TrafficProviderError && e.kind === "not-configured",
      "the same name with another match is another route",
    );
    await assert.rejects(
      provider.apply("nope", shop(10)),
      (e) => e instanceof TrafficProviderError && e.kind === "not-configured",
    );
  });

  it("is accepted by haproxy -c", () => {
    const r = engine.check();
    assert.equal(r.status, 0, r.output);
  });
});

describe("haproxy provider: bad Runtime API answers are typed errors", () => {
  const dir = mkdtempSync(join(tmpdir(), "aviary-haproxy-api-"));
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A unix socket that answers every line with `reply(line)` (undefined: silence), in prompt mode. */
  async function fakeSocket(name: string, reply: (line: string) => string | undefined | "close") {
    const path = join(dir, name);
    const server = createServer((c) => {
      let buf = "";
      c.on("data", (d) => {
        buf += d.toString();
        for (let i = buf.indexOf("\n"); i !== -1; i = buf.indexOf("\n")) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line === "prompt") {
            c.write("\n> ");
            continue;
          }
          const r = reply(line);
          if (r === "close") c.destroy();
          else if (r !== undefined) c.write(`${r}\n> `);
        }
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(path, r));
    return path;
  }
  const provider = (path: string, timeout = "300ms") =>
    createHaproxyProvider(
      HaproxySettings.parse({ runtimeApi: `unix:${path}`, mapsDir: dir, timeout }),
      { log: silentLogger(), clock: systemClock },
    );
  const kind = (k: string) => (e: unknown) =>
    e instanceof TrafficProviderError && e.kind === k && e.engine === "haproxy";
  const state: TrafficState = {
    stable: { version: "v1", targets: ["http://127.0.0.1:9001"] },
    canary: null,
    weight: 0,
    headerRoutes: [],
    mirror: null,
  };

  it("no socket: unreachable", async () => {
    await assert.rejects(provider(join(dir, "missing.sock")).observe(), kind("unreachable"));
  });
  it("garbage for show servers state: refused", async () => {
    const path = await fakeSocket("garbage.sock", () => "what?\n");
    await assert.rejects(provider(path).observe(), kind("refused"));
  });
  it("silence: timeout, within the settings' bound", async () => {
    const path = await fakeSocket("silent.sock", () => undefined);
    const started = performance.now();
    await assert.rejects(provider(path).apply("shop", state), kind("timeout"));
    assert.ok(performance.now() - started < 3_000);
  });
  it("a connection closed mid-call: unreachable", async () => {
    const path = await fakeSocket("closing.sock", () => "close");
    await assert.rejects(provider(path).observe(), kind("unreachable"));
  });
  it("an error answer to prepare map: refused; no Lua catalog: not-configured", async () => {
    const path = await fakeSocket("refusing.sock", (line) =>
      line === "aviary catalog" ? "service shop 4\nstable shop\n" : "Permission denied\n",
    );
    await assert.rejects(provider(path).apply("shop", state), kind("refused"));
    const noLua = await fakeSocket(
      "nolua.sock",
      () => "Unknown command, but maybe one of the following\n",
    );
    await assert.rejects(provider(noLua).apply("shop", state), kind("not-configured"));
  });
});
