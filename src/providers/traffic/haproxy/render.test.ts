/** renderHaproxy without an engine: the files, the initial maps, what it refuses and where. */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { Spec, type SpecInput } from "../../../spec/schema.js";
import { managedRoutes, parseCatalog, renderCatalog, routeKey } from "./layout.js";
import { CONFIG_FILE, cfgBytes, HaproxyRenderError, LUA_FILE, renderHaproxy } from "./render.js";

const target = (port: number) => `http://127.0.0.1:${port}`;
function spec(services: SpecInput["services"], slots = 2): Spec {
  return Spec.parse({
    listen: "127.0.0.1:8080",
    dataplane: {
      engine: "haproxy",
      haproxy: {
        runtimeApi: "unix:/run/haproxy/admin.sock",
        mapsDir: "/etc/haproxy/aviary",
        targetSlots: slots,
      },
      logs: { listen: "udp://127.0.0.1:5514" },
    },
    services,
  });
}
const file = (s: Spec, name: string) =>
  renderHaproxy(s).files.find((f) => f.name === name)?.content ?? assert.fail(`no ${name}`);

describe("renderHaproxy", () => {
  it("renders the fragment first, the Lua file, and one map per service", () => {
    const out = renderHaproxy(
      spec([
        { name: "a", match: { pathPrefix: "/a" }, stable: { version: "v1", targets: [target(1)] } },
        {
          name: "b",
          match: { host: "b.example" },
          stable: { version: "v1", targets: [target(2)] },
        },
      ]),
    );
    assert.deepEqual(
      out.files.map((f) => f.name),
      [CONFIG_FILE, LUA_FILE, "aviary-b.map", "aviary-a.map"],
    );
    assert.match(out.instructions, /lua-load \/path\/to\/aviary\.lua/);
    assert.match(out.instructions, /stats socket \/run\/haproxy\/admin\.sock level admin/);
    assert.match(out.instructions, /\/etc\/haproxy\/aviary/);
  });

  it("initial maps: stable only under a strategy, the spec's canary and weight (basis points) without", () => {
    const s = spec([
      {
        name: "ruled",
        match: { pathPrefix: "/r" },
        stable: { version: "v1", targets: [target(1)] },
        canary: { version: "v2", targets: [target(2)] },
        strategy: { steps: [{ setWeight: 10 }] },
      },
      {
        name: "static",
        match: { pathPrefix: "/s" },
        stable: { version: "v1", targets: [target(1)] },
        canary: { version: "v2", targets: [target(2)] },
        weight: 12.5,
      },
    ]);
    assert.equal(file(s, "aviary-ruled.map"), "stable v1\nweight 0\n");
    assert.equal(file(s, "aviary-static.map"), "stable v1\ncanary v2\nweight 1250\n");
    const cfg = file(s, CONFIG_FILE);
    // The strategy's canary slots start out of rotation; the static canary's point at it.
    assert.match(cfg, /backend aviary-ruled-canary[\s\S]*?server s1 127\.0\.0\.1:1 disabled/);
    assert.match(cfg, /backend aviary-static-canary[\s\S]*?server s1 127\.0\.0\.1:2\n/);
    assert.match(cfg, /backend aviary-static-stable[\s\S]*?server s2 127\.0\.0\.1:1 disabled/);
  });

  it("tries services with a host first, then longer prefixes, by whole segments", () => {
    const cfg = file(
      spec([
        {
          name: "short",
          match: { pathPrefix: "/a" },
          stable: { version: "v1", targets: [target(1)] },
        },
        {
          name: "long",
          match: { pathPrefix: "/a/b" },
          stable: { version: "v1", targets: [target(1)] },
        },
        {
          name: "hosted",
          match: { host: "H.example", pathPrefix: "/" },
          stable: { version: "v1", targets: [target(1)] },
        },
      ]),
      CONFIG_FILE,
    );
    const order = [...cfg.matchAll(/set-var\(txn\.aviary_svc\) str\((\w+)\)/g)].map((m) => m[1]);
    assert.deepEqual(order, ["hosted", "hosted", "long", "long", "short", "short"]);
    assert.match(cfg, /req\.fhdr\(host\),lower -m str "h\\x2eexample"/);
    assert.match(cfg, /path -m str "\\x2fa\\x2fb"/);
    assert.match(cfg, /path -m beg "\\x2fa\\x2fb\\x2f"/);
  });

  it("writes values as escaped bytes: nothing a spec says can end a token or start a comment", () => {
    assert.equal(
      cfgBytes(new TextEncoder().encode(`a "b" $x #c\\`)),
      '"a\\x20\\x22b\\x22\\x20\\x24x\\x20\\x23c\\x5c"',
    );
    const cfg = file(
      spec([
        {
          name: "a",
          match: { pathPrefix: "/a" },
          stable: { version: "v1", targets: [target(1)] },
          canary: { version: "v2", targets: [target(2)] },
          routes: [
            { match: { headers: { "X-A": { exact: "é" } } }, to: "canary" },
            { match: { query: { q: { exact: "é" } } }, to: "canary" },
          ],
        },
      ]),
      CONFIG_FILE,
    );
    // Headers are latin1 to Node (one byte), query values UTF-8 after decoding (two).
    assert.match(cfg, /lua\.aviary_value\(1\) -m str "\\xe9"/);
    assert.match(cfg, /lua\.aviary_value\(2\) -m str "\\xc3\\xa9"/);
  });

  it("refuses what HAProxy cannot serve, naming the place", () => {
    const base = {
      name: "a",
      match: { pathPrefix: "/a" },
      stable: { version: "v1", targets: [target(1)] },
    };
    // What the engine cannot do at all is refused where the spec loads (its capabilities);
    // what only the rendered configuration cannot hold, by render itself.
    const refuses = (input: SpecInput["services"], place: RegExp, slots = 2) =>
      assert.throws(
        () => renderHaproxy(spec(input, slots)),
        (e) =>
          (e instanceof HaproxyRenderError && place.test(e.message)) ||
          (e instanceof z.ZodError &&
            e.issues.some((i) => place.test(`${i.path.join(".")}: ${i.message}`))),
      );
    refuses(
      [
        {
          ...base,
          canary: { version: "v2", targets: [target(2)] },
          routes: [{ match: { headers: { "x-a": { regex: "^a" } } }, to: "canary" }],
        },
      ],
      /^services\.0\.routes\.0\.match\.headers\.x-a\.regex: engine haproxy cannot match a value by regex/,
    );
    refuses(
      [{ ...base, canary: { version: "v2", targets: [target(2)] }, mirror: { percent: 5 } }],
      /^services\.0\.mirror:/,
    );
    refuses(
      [{ ...base, stickiness: { cookie: "sid", setCookie: true } }],
      /^services\.0\.stickiness\.setCookie:/,
    );
    refuses(
      [{ ...base, stable: { version: "v1", targets: [target(1), target(2), target(3)] } }],
      /^services\.0\.stable\.targets: engine haproxy cannot give one version more than 2 targets/,
    );
    refuses(
      [{ ...base, stable: { version: "v1", targets: ["http://localhost:9001"] } }],
      /^services\.0\.stable\.targets\.0: .*IP address/,
    );
    refuses(
      [{ ...base, stable: { version: "v1", targets: ["https://127.0.0.1:9001"] } }],
      /^services\.0\.stable\.targets\.0: .*http:\/\//,
    );
    assert.throws(() => renderHaproxy(Spec.parse({ services: [base] })), {
      message: /^dataplane\.haproxy:/,
    });
  });

  it("catalogs every managed route a strategy can add (blue/green's preview included), by name and match", () => {
    const s = spec([
      {
        name: "a",
        match: { pathPrefix: "/a" },
        stable: { version: "v1", targets: [target(1)] },
        strategy: {
          steps: [
            { setHeaderRoute: { name: "beta", match: { headers: { "x-b": { exact: "1" } } } } },
            { setHeaderRoute: { name: "beta" } },
            { setHeaderRoute: { name: "beta", match: { headers: { "x-b": { exact: "2" } } } } },
          ],
        },
      },
      {
        name: "bg",
        match: { pathPrefix: "/bg" },
        stable: { version: "v1", targets: [target(1)] },
        strategy: { blueGreen: { preview: { headers: { "x-preview": { exact: "1" } } } } },
      },
    ]);
    const [a, bg] = s.services;
    assert.equal(managedRoutes(a!).length, 2, "one switch per distinct (name, match)");
    assert.deepEqual(
      managedRoutes(bg!).map((r) => r.name),
      ["preview"],
    );
    const catalog = parseCatalog(renderCatalog(s.services, 2));
    assert.equal(catalog.get("a")?.routes.get(routeKey(managedRoutes(a!)[1]!)), 1);
    assert.deepEqual(catalog.get("bg")?.stableTargets, [target(1)]);
    assert.match(file(s, LUA_FILE), /core\.register_cli\(\{ "aviary", "catalog" \}/);
  });
});
