/**
 * What Aviary's Lua costs HAProxy per request: requests per second through the rendered
 * configuration at weight 0 (no bucket: the weight decides alone) against weight 50 (the Lua
 * bucket of the sticky header on every request), in the same run, with wrk. The upstream is a
 * second HAProxy answering from memory (`http-request return`), so the upstream is not what
 * limits the figures.
 *
 * Usage: node --import tsx bench/haproxy-lua.ts [--seconds N] [--rounds N]
 */

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHaproxyProvider } from "../src/providers/traffic/haproxy/index.js";
import { systemClock } from "../src/util/clock.js";
import { silentLogger } from "../src/util/log.js";
import { freePort, haproxyBinary, startHaproxy } from "../test/engines/haproxy.js";

const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf("--seconds") + 1]) || 5;
const rounds = Number(args[args.indexOf("--rounds") + 1]) || 2;

if (spawnSync("wrk", ["--version"]).error !== undefined)
  throw new Error("wrk is not installed: apt-get install -y wrk");

const dir = mkdtempSync(join(tmpdir(), "aviary-haproxy-upstream-"));
const upstreamPort = await freePort();
writeFileSync(
  join(dir, "upstream.cfg"),
  [
    "defaults",
    "    mode http",
    "    timeout client 10s",
    "    timeout server 10s",
    "    timeout connect 10s",
    "frontend upstream",
    `    bind 127.0.0.1:${upstreamPort}`,
    '    http-request return status 200 content-type text/plain string "ok"',
    "",
  ].join("\n"),
);
const upstream = spawn(haproxyBinary(), ["-db", "-f", join(dir, "upstream.cfg")], {
  stdio: "ignore",
});
const target = `http://127.0.0.1:${upstreamPort}`;
const engine = await startHaproxy({
  services: [
    {
      name: "app",
      match: { pathPrefix: "/" },
      stable: { version: "v1", targets: [target] },
      canary: { version: "v2", targets: [target] },
      stickiness: { header: "x-user" },
    },
  ],
});
const settings = engine.spec.dataplane.haproxy;
if (settings === undefined) throw new Error("no haproxy settings");
const provider = createHaproxyProvider(settings, { log: silentLogger(), clock: systemClock });

function wrk(): { rps: number; p99: string } {
  const r = spawnSync(
    "wrk",
    ["-t1", "-c32", `-d${seconds}s`, "--latency", "-H", "x-user: user-42", `${engine.url}/`],
    { encoding: "utf8" },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const p99 = /\s99%\s+(\S+)/.exec(r.stdout)?.[1] ?? "?";
  if (!Number.isFinite(rps)) throw new Error(`wrk said: ${r.stdout}${r.stderr}`);
  return { rps, p99 };
}

const results: Record<string, { rps: number; p99: string }[]> = { "weight 0": [], "weight 50": [] };
try {
  for (let round = 0; round < rounds; round++) {
    for (const weight of [0, 50]) {
      await provider.apply("app", {
        stable: { version: "v1", targets: [target] },
        canary: { version: "v2", targets: [target] },
        weight,
        headerRoutes: [],
        mirror: null,
      });
      results[`weight ${weight}`]?.push(wrk());
    }
  }
} finally {
  await engine.close();
  upstream.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}
console.log(`HAProxy, wrk -t1 -c32 -d${seconds}s, ${rounds} rounds, interleaved`);
for (const [name, runs] of Object.entries(results))
  console.log(
    `${name}: ${runs.map((r) => `${Math.round(r.rps)} req/s (p99 ${r.p99})`).join(", ")}`,
  );
const mean = (name: string) =>
  (results[name] ?? []).reduce((a, r) => a + r.rps, 0) / (results[name]?.length ?? 1);
console.log(`weight 50 / weight 0: ${(mean("weight 50") / mean("weight 0")).toFixed(3)}`);
