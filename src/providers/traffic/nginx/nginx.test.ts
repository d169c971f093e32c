/**
 * The nginx provider against a real nginx: Aviary's buckets for 1,000 users, weight and target
 * changes under keep-alive load with no failed request, state across `nginx -s reload` and a
 * restart, the control server's refusals, the access-log line; and the renderer on its own.
 */

import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Pool, request } from "undici";
import { z } from "zod";
import { type AviaryNginx, freePort, startAviaryNginx } from "../../../../test/engines/nginx.js";
import { startUpstream, type Upstream } from "../../../../test/fixtures.js";
import { bucketerFor } from "../../../dataplane/hash.js";
import type { TrafficState } from "../../../rollout/types.js";
import { Spec, type SpecInput } from "../../../spec/schema.js";
import { systemClock } from "../../../util/clock.js";
import { silentLogger } from "../../../util/log.js";
import { TrafficProviderError } from "../provider.js";
import { createNginxProvider, type NginxTrafficProvider } from "./index.js";
import { CONF_FILE, luaString, renderNginx, STATE_FILE } from "./render.js";

const up: Record<string, Upstream> = {};
const v = (name: string) => ({
  version: name.split("-")[1] as string,
  targets: [up[name]?.url as string],
});

function servicesInput(): SpecInput["services"] {
  return [
    {
      name: "shop",
      match: { pathPrefix: "/shop" },
      stable: v("shop-v1"),
      stickiness: { header: "x-user" },
      routes: [
        { match: { query: { force: { exact: "canary" } } }, to: "canary" },
        { match: { cookies: { pin: { prefix: "stable" } } }, to: "stable" },
      ],
      strategy: { steps: [{ setWeight: 10 }] },
    },
    {
      name: "cart",
      match: { pathPrefix: "/cart" },
      stable: v("cart-v1"),
      stickiness: { cookie: "sid", group: "team-a" },
      strategy: { steps: [{ setWeight: 10 }] },
    },
    {
      name: "addr",
      match: { pathPrefix: "/addr" },
      stable: v("shop-v1"),
      canary: v("shop-v2"),
      weight: 50,
      stickiness: { clientAddress: true },
    },
    {
      name: "slow",
      match: { pathPrefix: "/slow" },
      stable: v("slow-v1"),
      canary: v("slow-v2"),
      routes: [{ match: { headers: { "x-reset": { exact: "1" } } }, to: "canary" }],
      timeouts: { response: "300ms" },
    },
  ];
}

async function answer(base: string, path: string, headers: Record<string, string> = {}) {
  const res = await request(`${base}${path}`, { headers });
  await res.body.dump();
  const name = res.headers["x-upstream"];
  return typeof name === "string" ? name : `status ${res.statusCode}`;
}

function provider(e: AviaryNginx): NginxTrafficProvider {
  const settings = e.spec.dataplane.nginx;
  if (settings === undefined) throw new Error("no nginx settings");
  return createNginxProvider(settings, {
    log: silentLogger(),
    clock: systemClock,
  }) as NginxTrafficProvider;
}

describe("nginx provider against a real nginx", () => {
  let e: AviaryNginx;
  let p: NginxTrafficProvider;
  let logs: Socket;
  const lines: string[] = [];
  let specs: ReturnType<typeof Spec.parse>["services"];

  const shop = (canary: string | null, weight: number, extra: Partial<TrafficState> = {}) => ({
    stable: v("shop-v1"),
    canary: canary === null ? null : v(canary),
    weight,
    headerRoutes: [],
    mirror: null,
    ...extra,
  });

  before(async () => {
    for (const name of ["shop-v1", "shop-v2", "shop-v3", "cart-v1", "cart-v2"])
      up[name] = await startUpstream(name);
    // One target that never answers, one that cuts the connection: the log's fail= kinds.
    up["slow-v1"] = await startUpstream("slow-v1", () => {});
    up["slow-v2"] = await startUpstream("slow-v2", (req) => req.socket.destroy());
    logs = createSocket("udp4");
    logs.on("message", (m) => lines.push(m.toString("latin1")));
    await new Promise<void>((resolve) => logs.bind(0, "127.0.0.1", resolve));
    e = await startAviaryNginx(servicesInput(), { logPort: logs.address().port });
    specs = e.spec.services;
    p = provider(e);
    await p.configure(specs, new Map());
  });
  after(async () => {
    await p?.close();
    await e?.close();
    logs?.close();
    for (const u of Object.values(up)) await u.close();
  });

  it("nginx -t accepts the rendered configuration", async () => {
    const out = await e.nginx.test();
    assert.match(out, /test is successful/);
  });

  for (const kind of ["header", "cookie"] as const)
    it(`puts 1,000 ${kind}-sticky users exactly where the embedded bucketer does at 5, 25, 50 %`, async () => {
      const service = kind === "header" ? "shop" : "cart";
      const bucketer = bucketerFor(kind === "header" ? "shop" : "team-a");
      const users = Array.from({ length: 1000 }, (_, i) => `u${i}-${"x".repeat(i % 7)}@ex.com`);
      const pool = new Pool(e.url, { connections: 8 });
      try {
        for (const weight of [5, 25, 50]) {
          const canary = kind === "header" ? "shop-v2" : "cart-v2";
          await p.apply(service, {
            stable: v(`${service}-v1`),
            canary: v(canary),
            weight,
            headerRoutes: [],
            mirror: null,
          });
          const got = await Promise.all(
            users.map(async (u) => {
              const res = await pool.request({
                method: "GET",
                path: `/${service}/x`,
                headers: kind === "header" ? { "x-user": u } : { cookie: `a=1; sid="${u}"; b=2` },
              });
              await res.body.dump();
              return res.headers["x-upstream"];
            }),
          );
          let onCanary = 0;
          users.forEach((u, i) => {
            const want = bucketer.bucket(u) < weight * 100 ? canary : `${service}-v1`;
            assert.equal(got[i], want, `${u} at ${weight} %: bucket ${bucketer.bucket(u)}`);
            if (want === canary) onCanary++;
          });
          assert.ok(onCanary > weight * 10 * 0.6 && onCanary < weight * 10 * 1.4, `${onCanary}`);
        }
      } finally {
        await pool.close();
      }
    });

  it("follows spec routes (query, cookie prefix) after managed routes, and joins repeated headers", async () => {
    const beta = { name: "beta", match: { headers: { "x-beta": { exact: "1, 2" } } } };
    await p.apply("shop", shop("shop-v2", 0, { headerRoutes: [beta] }));
    assert.equal(await answer(e.url, "/shop?force=canary"), "shop-v2");
    assert.equal(await answer(e.url, "/shop/a?x=1&force=canary&force=no"), "shop-v2");
    assert.equal(await answer(e.url, "/shop/a?force=canar"), "shop-v1");
    await p.apply("shop", shop("shop-v2", 100));
    assert.equal(await answer(e.url, "/shop", { cookie: "pin=stable-1" }), "shop-v1");
    assert.equal(await answer(e.url, "/shop", { cookie: "pin=xstable" }), "shop-v2");
    assert.equal(await answer(e.url, "/shops"), "status 404", "whole segments only");
    await p.apply("shop", shop("shop-v2", 0, { headerRoutes: [beta] }));
    const res = await request(`${e.url}/shop`, {
      headers: { "x-beta": ["1", "2"] },
    });
    await res.body.dump();
    assert.equal(res.headers["x-upstream"], "shop-v2", "x-beta: 1 and x-beta: 2 read as '1, 2'");
  });

  it("decodes query parameters as URLSearchParams does, and reads headers past the 100th", async () => {
    await p.apply("shop", shop("shop-v2", 0));
    assert.equal(await answer(e.url, "/shop?force=can%61ry"), "shop-v2");
    assert.equal(await answer(e.url, "/shop?f%6frce=canary"), "shop-v2");
    assert.equal(await answer(e.url, "/shop?force=canary+"), "shop-v1", "+ is a space");
    const many: Record<string, string> = {};
    for (let i = 0; i < 120; i++) many[`x-filler-${i}`] = "f";
    const beta = { name: "beta", match: { headers: { "x-beta": { exact: "1" } } } };
    await p.apply("shop", shop("shop-v2", 0, { headerRoutes: [beta] }));
    assert.equal(
      await answer(e.url, "/shop", { ...many, "x-beta": "1" }),
      "shop-v2",
      "121st header",
    );
    await p.apply("shop", shop("shop-v2", 50));
    const bucketer = bucketerFor("shop");
    const users = ["josé", "ünïcödé-42", "a b", "x", "ÿ\u00a0"];
    for (let i = 0; i < 20; i++) users.push(`${String.fromCharCode(0xc0 + i)}-${i}`);
    for (const user of users) {
      const want = bucketer.bucket(user) < 5000 ? "shop-v2" : "shop-v1";
      assert.equal(await answer(e.url, "/shop", { ...many, "x-user": user }), want, user);
    }
  });

  it("buckets by the client's address as the embedded router would", async () => {
    const want = bucketerFor("addr").bucket("127.0.0.1") < 5000 ? "shop-v2" : "shop-v1";
    for (let i = 0; i < 5; i++) assert.equal(await answer(e.url, "/addr/x"), want);
  });

  it("writes the access-log line contract to the syslog address, with fail= when no target answers", async () => {
    await p.apply("shop", shop("shop-v2", 100));
    lines.length = 0;
    await answer(e.url, "/shop/logged");
    const dead = `http://127.0.0.1:${await freePort()}`;
    await p.apply("shop", {
      ...shop("shop-v2", 100),
      canary: { version: "v9", targets: [dead] },
    });
    assert.equal(await answer(e.url, "/shop/dead"), "status 502");
    assert.equal(await answer(e.url, "/slow/x"), "status 504");
    assert.equal(await answer(e.url, "/slow/x", { "x-reset": "1" }), "status 502");
    const until = Date.now() + 5_000;
    while (lines.length < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const bodies = lines.map((l) => l.slice(l.indexOf("aviary1 ")));
    assert.match(bodies[0] ?? "", /^aviary1 svc=shop ver=v2 role=canary st=200 sec=\d+\.\d+$/);
    assert.match(
      bodies[1] ?? "",
      /^aviary1 svc=shop ver=v9 role=canary st=502 sec=\d+\.\d+ fail=connect$/,
    );
    assert.match(
      bodies[2] ?? "",
      /^aviary1 svc=slow ver=v1 role=stable st=504 sec=0\.\d+ fail=timeout$/,
    );
    assert.match(
      bodies[3] ?? "",
      /^aviary1 svc=slow ver=v2 role=canary st=502 sec=\d+\.\d+ fail=reset$/,
    );
    assert.match(lines[0] ?? "", /^<\d+>.* aviary: aviary1 /, "a syslog message tagged aviary");
  });

  it("changes the weight 100 times and the canary's targets under keep-alive load, failing no request", async () => {
    await p.apply("shop", shop("shop-v2", 0));
    const pool = new Pool(e.url, { connections: 4, pipelining: 1 });
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const client = async (c: number) => {
      for (let i = 0; running; i++) {
        try {
          const res = await pool.request({
            method: i % 5 === 0 ? "POST" : "GET",
            path: `/shop/load/${c}`,
            headers: { "x-user": `user-${c}-${i}` },
            ...(i % 5 === 0 ? { body: "payload" } : {}),
          });
          await res.body.dump();
          if (res.statusCode === 200) ok++;
          else failures.push(`status ${res.statusCode}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const clients = [0, 1, 2, 3].map(client);
    try {
      for (let i = 0; i < 100; i++) {
        const canary = i % 10 < 5 ? "shop-v2" : "shop-v3";
        await p.apply("shop", shop(canary, (i * 37) % 101));
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      running = false;
      await Promise.all(clients);
      await pool.close();
    }
    assert.deepEqual(failures, [], (await e.nginx.errorLog()).slice(-3000));
    assert.ok(ok > 200, `${ok} requests under load`);
  });

  it("keeps the applied state across nginx -s reload and serves it after a restart from the state file", async () => {
    const s = shop("shop-v3", 100, {
      headerRoutes: [{ name: "beta", match: { headers: { "x-beta": { exact: "1" } } } }],
    });
    await p.apply("shop", s);
    const before = await p.snapshot();
    // The new workers take over; the dict (and its boot id) outlives the reload.
    await e.nginx.reloadAndSettle();
    const afterReload = await p.snapshot();
    assert.equal(afterReload.boot, before.boot, "a reload keeps the shared dict");
    assert.deepEqual(afterReload.services.shop, before.services.shop);
    assert.equal(await answer(e.url, "/shop", { "x-user": "a" }), "shop-v3");

    await e.nginx.stop();
    await assert.rejects(p.observe(), (err) => err instanceof TrafficProviderError);
    const file = await readFile(join(e.stateDir, STATE_FILE), "utf8");
    assert.match(file, /^shop \{.*"version":"v3"/m, "the state file holds the last apply");
    await e.nginx.start(e.ready);
    const afterRestart = await p.snapshot();
    assert.notEqual(afterRestart.boot, before.boot, "a restart is a new boot");
    assert.deepEqual(afterRestart.services.shop, before.services.shop);
    assert.equal(await answer(e.url, "/shop", { "x-user": "a" }), "shop-v3");
    const observed = (await p.observe()).get("shop");
    assert.deepEqual(observed?.routes, ["beta"]);
  });

  it("its control server refuses bad input and anything but GET/PUT/DELETE", async () => {
    const url = `${e.controlUrl}/aviary/v1/services`;
    const put = async (path: string, body: string, type = "application/json") => {
      const res = await request(`${url}${path}`, {
        method: "PUT",
        headers: { "content-type": type },
        body,
      });
      const text = await res.body.text();
      return { status: res.statusCode, text };
    };
    const good = JSON.parse((await (await request(`${url}/shop`)).body.text()) || "{}") as Record<
      string,
      unknown
    >;
    const cases: Array<[string, string, number, RegExp]> = [
      ["/shop", "{not json", 400, /not JSON/],
      ["/shop", "", 400, /empty/],
      ["/shop", JSON.stringify({ ...good, weight: 101 }), 400, /weight/],
      ["/shop", JSON.stringify({ ...good, weight: "5" }), 400, /weight/],
      [
        "/shop",
        JSON.stringify({ ...good, stable: { version: "v1", targets: [] } }),
        400,
        /stable\.targets/,
      ],
      [
        "/shop",
        JSON.stringify({ ...good, stable: { version: "v1", targets: ["http://example.com:80"] } }),
        400,
        /stable\.targets\[0\]/,
      ],
      [
        "/shop",
        JSON.stringify({
          ...good,
          routes: [{ to: "canary", match: { headers: { a: { regex: "(a+)+$" } } } }],
        }),
        400,
        /regex is not supported/,
      ],
      ["/shop", JSON.stringify({ ...good, mirror: { percent: 5 } }), 400, /mirror/],
      ["/shop", `[${"[".repeat(40)}${"]".repeat(40)}]`, 400, /nested too deeply|object/],
      ["/nope", JSON.stringify(good), 404, /not-configured/],
      ["/..%2Fshop", JSON.stringify(good), 404, /not-found/],
    ];
    for (const [path, body, status, text] of cases) {
      const got = await put(path, body);
      assert.equal(got.status, status, `${path} ${body.slice(0, 60)}: ${got.text}`);
      assert.match(got.text, text);
    }
    assert.equal((await put("/shop", JSON.stringify(good), "text/plain")).status, 415);
    const big = JSON.stringify({ ...good, pad: "x".repeat(300 * 1024) });
    assert.equal((await put("/shop", big)).status, 413);
    const post = await request(`${url}/shop`, { method: "POST", body: "{}" });
    await post.body.dump();
    assert.equal(post.statusCode, 405);
    const del = await request(url, { method: "DELETE" });
    await del.body.dump();
    assert.equal(del.statusCode, 405);
    // Nothing above changed what is served.
    assert.deepEqual(
      JSON.parse(await (await request(`${url}/shop`)).body.text()),
      good,
      "the state is untouched",
    );
  });

  it("maps failures to typed errors: not-configured, unsupported, refused", async () => {
    await assert.rejects(
      p.apply("ghost", shop("shop-v2", 5)),
      (err) => err instanceof TrafficProviderError && err.kind === "not-configured",
    );
    await assert.rejects(
      p.apply("shop", {
        ...shop("shop-v2", 5),
        headerRoutes: [{ name: "r", match: { headers: { a: { regex: "^a" } } } }],
      }),
      (err) => err instanceof TrafficProviderError && err.kind === "unsupported",
    );
    await assert.rejects(
      p.apply("shop", {
        ...shop("shop-v2", 5),
        canary: { version: "v2", targets: ["https://127.0.0.1:1"] },
      }),
      (err) => err instanceof TrafficProviderError && err.kind === "unsupported",
    );
    const spec = Spec.parse({
      services: [{ name: "other", match: { pathPrefix: "/o" }, stable: v("shop-v1") }],
    }).services;
    const before = await p.snapshot();
    await assert.rejects(
      p.configure([...specs, ...spec], new Map()),
      (err) =>
        err instanceof TrafficProviderError &&
        err.kind === "not-configured" &&
        /no location for other/.test(err.message),
    );
    assert.deepEqual((await p.snapshot()).services, before.services, "nothing changed");
  });

  it("maps a 404 from something else to refused, and silence to timeout", async () => {
    const settings = e.spec.dataplane.nginx;
    if (settings === undefined) throw new Error("no nginx settings");
    // The users' listener is not a control server: it answers 404.
    const wrong = createNginxProvider(
      { ...settings, control: e.url.slice("http://".length) },
      { log: silentLogger(), clock: systemClock },
    );
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const mute = createNginxProvider(
      {
        ...settings,
        control: `127.0.0.1:${(silent.address() as AddressInfo).port}`,
        timeout: "200ms",
      },
      { log: silentLogger(), clock: systemClock },
    );
    try {
      await assert.rejects(
        wrong.observe(),
        (err) =>
          err instanceof TrafficProviderError && err.kind === "refused" && /404/.test(err.message),
      );
      await assert.rejects(
        mute.observe(),
        (err) => err instanceof TrafficProviderError && err.kind === "timeout",
      );
    } finally {
      await wrong.close();
      await mute.close().catch(() => {});
      silent.close();
      silent.closeAllConnections?.();
    }
  });

  it("a second provider (Aviary restarted) keeps the other services' lines in the state file", async () => {
    await p.apply("cart", {
      stable: v("cart-v1"),
      canary: v("cart-v2"),
      weight: 12.5,
      headerRoutes: [],
      mirror: null,
    });
    const second = provider(e);
    try {
      await second.configure(specs, new Map());
      await second.apply("shop", shop("shop-v2", 7));
      const file = await readFile(join(e.stateDir, STATE_FILE), "utf8");
      assert.match(file, /^cart \{.*"weight":12\.5/m);
      assert.match(file, /^shop \{.*"weight":7/m);
      assert.equal(
        (await second.observe()).get("cart")?.weight,
        12.5,
        "configure kept cart's traffic",
      );
    } finally {
      await second.close();
    }
  });
});

describe("renderNginx", () => {
  const base = (extra: Record<string, unknown> = {}, services?: SpecInput["services"]) =>
    Spec.parse({
      listen: "0.0.0.0:8080",
      dataplane: {
        engine: "nginx",
        nginx: { control: "127.0.0.1:9980", stateDir: "/var/lib/aviary" },
        logs: { listen: "udp://127.0.0.1:5514" },
        ...extra,
      },
      services: services ?? [
        {
          name: "shop",
          match: { pathPrefix: "/shop" },
          stable: { version: "v1", targets: ["http://10.0.0.1:80"] },
        },
        {
          name: "deep",
          match: { pathPrefix: "/shop/deep" },
          stable: { version: "v1", targets: ["http://10.0.0.2:80"] },
        },
        {
          name: "api",
          match: { host: "API.example.com", pathPrefix: "/" },
          stable: { version: "v1", targets: ["http://10.0.0.3:80"] },
        },
      ],
    });

  it("renders one include with the dict, the Lua, the control server and a location per service", () => {
    const out = renderNginx(base());
    assert.equal(out.files.length, 1);
    const conf = out.files[0]?.content ?? "";
    assert.equal(out.files[0]?.name, CONF_FILE);
    assert.match(conf, /^lua_shared_dict aviary 4m;$/m);
    assert.match(conf, /listen 127\.0\.0\.1:9980;/);
    assert.match(conf, /deny all;/);
    assert.match(conf, /listen 0\.0\.0\.0:8080 default_server;/);
    assert.match(conf, /location = "\/shop" \{ access_by_lua_block \{ aviary\.route\("shop"\) \}/);
    assert.match(conf, /location "\/shop\/" \{/);
    assert.match(
      conf,
      /location "\/shop\/deep\/" \{ access_by_lua_block \{ aviary\.route\("deep"\)/,
    );
    assert.match(conf, /server_name api\.example\.com;/);
    assert.match(conf, /access_log syslog:server=127\.0\.0\.1:5514,tag=aviary,nohostname aviary1/);
    assert.match(conf, /proxy_connect_timeout 5000ms;/);
    assert.match(conf, /\/var\/lib\/aviary\/nginx-state\.txt/);
    // In the api host's server, "/" belongs to api and covers the host-less services.
    const apiServer = conf.slice(conf.indexOf("server_name api.example.com"));
    assert.doesNotMatch(apiServer, /aviary\.route\("shop"\)/);
    assert.match(out.instructions, /load_module modules\/ngx_http_lua_module\.so;/);
    assert.match(out.instructions, new RegExp(`include ${CONF_FILE};`));
  });

  it("refuses what nginx cannot serve, naming the place", () => {
    assert.throws(
      () => renderNginx(base({ nginx: { control: "0.0.0.0:9980", stateDir: "/s" } })),
      /dataplane\.nginx\.control: .*loopback/,
    );
    assert.throws(
      () => renderNginx(base({ nginx: { control: "127.0.0.1:8080", stateDir: "/s" } })),
      /dataplane\.nginx\.control: .*same port as listen/,
    );
    const svc = (extra: Record<string, unknown>) => [
      {
        name: "shop",
        match: { pathPrefix: "/shop" },
        stable: { version: "v1", targets: ["http://10.0.0.1:80"] },
        ...extra,
      },
    ];
    assert.throws(
      () =>
        renderNginx(
          base(
            {},
            svc({ routes: [{ match: { headers: { "x-a": { regex: "a" } } }, to: "stable" }] }),
          ),
        ),
      // Refused where the spec loads: nginx's capabilities have no regex.
      (e) => capabilityRefusal(e, "services.0.routes.0.match.headers.x-a.regex"),
    );
    assert.throws(
      () =>
        renderNginx(base({}, svc({ stable: { version: "v1", targets: ["http://svc.local:80"] } }))),
      /services\[0\]\.stable\.targets\[0\]: .*IP address/,
    );
    assert.throws(
      () => renderNginx(base({}, svc({ stickiness: { cookie: "sid", setCookie: true } }))),
      (e) => capabilityRefusal(e, "services.0.stickiness.setCookie"),
    );
    assert.throws(
      () =>
        renderNginx(
          Spec.parse({
            dataplane: { engine: "embedded" },
          }),
        ),
      /dataplane\.nginx: missing/,
    );
  });

  /** A spec refused where it loads, at `path`, because engine nginx cannot do it. */
  function capabilityRefusal(e: unknown, path: string): boolean {
    return (
      e instanceof z.ZodError &&
      e.issues.some((i) => i.path.join(".") === path && /^engine nginx cannot/.test(i.message))
    );
  }

  it("escapes Lua string literals byte by byte", () => {
    assert.equal(luaString('a"b\\c$d\né'), '"a\\034b\\092c\\036d\\010\\195\\169"');
  });
});
