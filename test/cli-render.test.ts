/** `aviary render <engine>`: the files an external engine includes, and refusals that say what to fix. */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { AVIARY_BIN } from "./fixtures.js";

const spec = (engine: string) => `dataplane:
  engine: ${engine}
${
  engine === "haproxy"
    ? "  haproxy: { runtimeApi: unix:/run/haproxy/admin.sock, mapsDir: /etc/haproxy/aviary }"
    : "  nginx: { control: 127.0.0.1:9980, stateDir: /var/lib/aviary }"
}
  logs: { listen: udp://127.0.0.1:5514 }
services:
  - name: shop
    match: { pathPrefix: /shop }
    stable: { version: v1, targets: ["http://127.0.0.1:9001"] }
    strategy:
      steps:
        - setHeaderRoute: { name: beta, match: { headers: { x-beta: { exact: "1" } } } }
        - setWeight: 10
`;

function render(...args: string[]) {
  assert.ok(existsSync(AVIARY_BIN), `${AVIARY_BIN} is missing: run \`npm run build\` first`);
  return spawnSync(process.execPath, [AVIARY_BIN, "render", ...args], { encoding: "utf8" });
}

describe("aviary render", () => {
  const dir = mkdtempSync(join(tmpdir(), "aviary-render-"));
  const file = (engine: string) => {
    const path = join(dir, `${engine}.yaml`);
    writeFileSync(path, spec(engine));
    return path;
  };

  it("writes HAProxy's files and says what goes in the global section", () => {
    const out = join(dir, "haproxy");
    const r = render("haproxy", "-f", file("haproxy"), "-o", out);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), [
      "aviary-haproxy.cfg",
      "aviary-shop.map",
      "aviary.lua",
    ]);
    assert.match(r.stderr, /lua-load/);
    assert.match(r.stderr, /stats socket \/run\/haproxy\/admin\.sock level admin/);
  });

  it("prints nginx's include to stdout and what goes in nginx.conf to stderr", () => {
    const r = render("nginx", "-f", file("nginx"));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /lua_shared_dict/);
    assert.match(r.stderr, /load_module/);
  });

  it("refuses a spec for another engine, and an engine it does not know", () => {
    const other = render("nginx", "-f", file("haproxy"));
    assert.equal(other.status, 1);
    assert.match(other.stderr, /dataplane\.engine is haproxy; set it to nginx/);
    const unknown = render("envoy", "-f", file("haproxy"));
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown engine envoy: expected haproxy or nginx/);
  });
});
