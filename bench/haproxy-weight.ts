/**
 * Weight-change latency through a real HAProxy: how long `apply` takes (Runtime API session:
 * catalog, prepare/add/commit map, slots, map file written), and how long from `apply`
 * returning until a request through HAProxy sees the new split. The weight alternates
 * 0 ↔ 100, so one request tells whether the change is in force; the second figure includes
 * that request's own round trip.
 *
 * Usage: node --import tsx bench/haproxy-weight.ts [--changes N]
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { request } from "undici";
import { createHaproxyProvider } from "../src/providers/traffic/haproxy/index.js";
import { systemClock } from "../src/util/clock.js";
import { silentLogger } from "../src/util/log.js";
import { startHaproxy } from "../test/engines/haproxy.js";

const args = process.argv.slice(2);
const changes = Number(args[args.indexOf("--changes") + 1]) || 100;

/** An upstream naming itself in x-upstream (test/fixtures.ts would load node:test's reporter). */
async function upstream(name: string) {
  const server = createServer((_, res) => res.writeHead(200, { "x-upstream": name }).end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
const stable = await upstream("app-v1");
const canary = await upstream("app-v2");
const engine = await startHaproxy({
  services: [
    {
      name: "app",
      match: { pathPrefix: "/" },
      stable: { version: "v1", targets: [stable.url] },
      stickiness: { header: "x-user" },
      strategy: { steps: [{ setWeight: 50 }] },
    },
  ],
});
const settings = engine.spec.dataplane.haproxy;
if (settings === undefined) throw new Error("no haproxy settings");
const provider = createHaproxyProvider(settings, { log: silentLogger(), clock: systemClock });

async function version(): Promise<string> {
  const res = await request(`${engine.url}/`, { headers: { "x-user": "someone" } });
  await res.body.dump();
  return String(res.headers["x-upstream"]);
}

const applyMs: number[] = [];
const seenMs: number[] = [];
let stale = 0;
try {
  for (let i = 0; i < changes; i++) {
    const weight = i % 2 === 0 ? 100 : 0;
    const want = weight === 100 ? "app-v2" : "app-v1";
    const t0 = performance.now();
    await provider.apply("app", {
      stable: { version: "v1", targets: [stable.url] },
      canary: { version: "v2", targets: [canary.url] },
      weight,
      headerRoutes: [],
      mirror: null,
    });
    const t1 = performance.now();
    let tries = 0;
    while ((await version()) !== want) {
      tries++;
      if (tries > 1000) throw new Error(`change ${i} not seen after 1000 requests`);
    }
    if (tries > 0) stale++;
    seenMs.push(performance.now() - t1);
    applyMs.push(t1 - t0);
  }
} finally {
  await engine.close();
  await stable.close();
  await canary.close();
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};
const fmt = (x: number) => `${x.toFixed(2)} ms`;
console.log(`HAProxy weight changes: ${changes} (0 <-> 100 %)`);
console.log(
  `apply (Runtime API session + map file): p50 ${fmt(pct(applyMs, 50))}, p99 ${fmt(pct(applyMs, 99))}, max ${fmt(Math.max(...applyMs))}`,
);
console.log(
  `apply returned -> a request sees the new split: p50 ${fmt(pct(seenMs, 50))}, p99 ${fmt(pct(seenMs, 99))}, max ${fmt(Math.max(...seenMs))}`,
);
console.log(`changes where the first request after apply still saw the old split: ${stale}`);
