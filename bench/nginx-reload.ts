/**
 * What a change costs on nginx under keep-alive load: runtime changes through Aviary's control
 * server (weights and canary targets) against `nginx -s reload` (what a new service, host or
 * path prefix needs). Same load for both: 8 keep-alive sockets on loopback, GET with a sticky
 * header, one in five a POST (which nginx and clients never retry).
 *
 * Usage: node --import tsx bench/nginx-reload.ts [changes=200] [reloads=40]
 * Prints the counts; exits 1 only if something broke (nginx did not start).
 */

import { Pool } from "undici";
import { NginxTrafficProvider } from "../src/providers/traffic/nginx/index.js";
import type { TrafficState } from "../src/rollout/types.js";
import { systemClock } from "../src/util/clock.js";
import { silentLogger } from "../src/util/log.js";
import { startAviaryNginx } from "../test/engines/nginx.js";
import { startUpstream } from "../test/fixtures.js";

const changes = Number(process.argv[2] ?? 200);
const reloads = Number(process.argv[3] ?? 40);

const ups = await Promise.all(["v1", "v2", "v3"].map((v) => startUpstream(`shop-${v}`)));
const target = (i: number) => ups[i]?.url as string;
const e = await startAviaryNginx([
  {
    name: "shop",
    match: { pathPrefix: "/shop" },
    stable: { version: "v1", targets: [target(0)] },
    stickiness: { header: "x-user" },
  },
]);
const settings = e.spec.dataplane.nginx;
if (settings === undefined) throw new Error("no nginx settings");
const provider = new NginxTrafficProvider(settings, { log: silentLogger(), clock: systemClock });
await provider.configure(e.spec.services, new Map());

/** Runs the load while `during` runs; returns requests sent and the failures by kind. */
async function underLoad(during: () => Promise<void>) {
  const pool = new Pool(e.url, { connections: 8, pipelining: 1 });
  let total = 0;
  const failed = new Map<string, number>();
  let running = true;
  const client = async (c: number) => {
    for (let i = 0; running; i++) {
      total++;
      try {
        const res = await pool.request({
          method: i % 5 === 0 ? "POST" : "GET",
          path: `/shop/${c}`,
          headers: { "x-user": `u-${c}-${i}` },
          ...(i % 5 === 0 ? { body: "x" } : {}),
        });
        await res.body.dump();
        if (res.statusCode !== 200) {
          const k = `status ${res.statusCode}`;
          failed.set(k, (failed.get(k) ?? 0) + 1);
        }
      } catch (err) {
        const k = (err as { code?: string }).code ?? String(err);
        failed.set(k, (failed.get(k) ?? 0) + 1);
      }
    }
  };
  const clients = Array.from({ length: 8 }, (_, c) => client(c));
  const started = performance.now();
  await during();
  running = false;
  await Promise.all(clients);
  await pool.close();
  const failures = [...failed.values()].reduce((a, b) => a + b, 0);
  return { total, failures, kinds: Object.fromEntries(failed), ms: performance.now() - started };
}

const state = (i: number): TrafficState => ({
  stable: { version: "v1", targets: [target(0)] },
  canary: { version: i % 2 === 0 ? "v2" : "v3", targets: [target(i % 2 === 0 ? 1 : 2)] },
  weight: (i * 37) % 101,
  headerRoutes: [],
  mirror: null,
});

try {
  const runtime = await underLoad(async () => {
    for (let i = 0; i < changes; i++) {
      await provider.apply("shop", state(i));
      await new Promise((r) => setTimeout(r, 10));
    }
  });
  const reload = await underLoad(async () => {
    for (let i = 0; i < reloads; i++) {
      await e.nginx.reload();
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  console.log(
    `runtime changes (weight + canary target, no reload): ${changes} changes, ${runtime.failures} failed of ${runtime.total} requests in ${Math.round(runtime.ms)} ms ${JSON.stringify(runtime.kinds)}`,
  );
  console.log(
    `nginx -s reload every 50 ms:                          ${reloads} reloads, ${reload.failures} failed of ${reload.total} requests in ${Math.round(reload.ms)} ms ${JSON.stringify(reload.kinds)}`,
  );
} finally {
  await provider.close();
  await e.close();
  for (const u of ups) await u.close();
}
