/**
 * What Aviary's Lua costs per request in nginx: wrk against nginx with the rendered include
 * (version choice, balancer_by_lua, syslog access log) and against a plain nginx proxy (one
 * keep-alive upstream, no Lua, no log), one worker each, the same Node upstream, in one run.
 * Indicative only on shared cores: compare the two lines, not the absolute numbers.
 *
 * Usage: node --import tsx bench/nginx-lua-cost.ts [seconds=5]
 */

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { NginxTrafficProvider } from "../src/providers/traffic/nginx/index.js";
import { systemClock } from "../src/util/clock.js";
import { silentLogger } from "../src/util/log.js";
import { freePort, NginxUnderTest, startAviaryNginx } from "../test/engines/nginx.js";
import { startUpstream } from "../test/fixtures.js";

const run = promisify(execFile);
const seconds = Number(process.argv[2] ?? 5);

async function wrk(url: string): Promise<string> {
  const { stdout } = await run("wrk", [
    "-t1",
    "-c8",
    `-d${seconds}s`,
    "--latency",
    "-H",
    "x-user: user-42",
    url,
  ]);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1];
  const p50 = /50%\s+(\S+)/.exec(stdout)?.[1];
  const p99 = /99%\s+(\S+)/.exec(stdout)?.[1];
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? "0";
  return `${rps} req/s, p50 ${p50}, p99 ${p99}, non-2xx ${errors}`;
}

const [v1, v2] = [await startUpstream("shop-v1"), await startUpstream("shop-v2")];
const aviary = await startAviaryNginx(
  [
    {
      name: "shop",
      match: { pathPrefix: "/shop" },
      stable: { version: "v1", targets: [v1.url] },
      canary: { version: "v2", targets: [v2.url] },
      weight: 10,
      stickiness: { header: "x-user" },
    },
  ],
  { workers: 1 },
);
const settings = aviary.spec.dataplane.nginx;
if (settings === undefined) throw new Error("no nginx settings");
const provider = new NginxTrafficProvider(settings, { log: silentLogger(), clock: systemClock });
await provider.configure(aviary.spec.services, new Map());

const plainPort = await freePort();
const plain = await NginxUnderTest.prepare({
  workers: 1,
  http: [
    `upstream stable { server ${v1.url.slice("http://".length)}; keepalive 64; }`,
    `server { listen 127.0.0.1:${plainPort};`,
    '  location /shop { proxy_pass http://stable; proxy_http_version 1.1; proxy_set_header Connection ""; }',
    "}",
  ].join("\n"),
});
await plain.start(async () => (await fetch(`http://127.0.0.1:${plainPort}/shop`)).ok);

try {
  console.log(`plain nginx proxy:          ${await wrk(`http://127.0.0.1:${plainPort}/shop/x`)}`);
  console.log(`nginx with Aviary's include: ${await wrk(`${aviary.url}/shop/x`)}`);
} finally {
  await provider.close();
  await aviary.close();
  await plain.close();
  await v1.close();
  await v2.close();
}
