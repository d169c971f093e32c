/**
 * The routing decision alone (service match + match routes + sticky hash + compare), as the
 * proxy makes it per request, against peers measured in the same run: the Unleash Node SDK's
 * way (murmurhash3js over a concatenated `group:id`) and a bare non-sticky random draw.
 *
 * Usage: npm run bench:route [-- --json] [-- --reps N]
 * Target: ≤ 150 ns per decision.
 */

import murmurhash3js from "murmurhash3js";
import { compilePlan } from "../src/dataplane/compile.js";
import { chooseVersion, type Decidable, findService } from "../src/dataplane/decide.js";
import { MetricsRegistry } from "../src/dataplane/metrics/registry.js";
import { HeaderSlots } from "../src/dataplane/request-view.js";
import { TargetRegistry } from "../src/dataplane/targets.js";
import { Spec } from "../src/spec/schema.js";

const args = process.argv.slice(2);
const json = args.includes("--json");
const reps = Number(args[args.indexOf("--reps") + 1]) || 7;
const ITERATIONS = 2_000_000;
const TARGET_NS = 150;

const spec = Spec.parse({
  services: [
    {
      name: "search",
      match: { pathPrefix: "/search" },
      stable: { version: "v1", targets: ["http://127.0.0.1:1"] },
    },
    {
      name: "checkout",
      match: { pathPrefix: "/checkout" },
      stable: { version: "v1", targets: ["http://127.0.0.1:2"] },
      canary: { version: "v2", targets: ["http://127.0.0.1:3"] },
      weight: 10,
      stickiness: { header: "x-user-id" },
      routes: [{ match: { headers: { "user-type": { exact: "beta-tester" } } }, to: "canary" }],
    },
  ],
});
const targets = new TargetRegistry();
const plan = compilePlan(spec.services, {
  targets,
  metrics: new MetricsRegistry(),
  proxy: spec.proxy,
  generation: 1,
  slots: new HeaderSlots(),
});

// Requests as the header pass leaves them: host, user id and (for 1 in 50) the beta header.
const userSlot = plan.slots.find("x-user-id") as number;
const typeSlot = plan.slots.find("user-type") as number;
const views: Decidable[] = Array.from({ length: 4096 }, (_, i) => {
  const headers: Array<string | undefined> = new Array(plan.slots.size);
  headers[plan.hostSlot] = "shop.example.com";
  headers[userSlot] = `user-${(i * 2_654_435_761) >>> 8}`;
  if (i % 50 === 0) headers[typeSlot] = "beta-tester";
  return {
    headers,
    url: `/checkout/cart/${i}`,
    clientAddress: "10.0.0.1",
    stickyIdToSet: undefined,
  };
});
const ids = views.map((v) => v.headers[userSlot] as string);

function timeNs(fn: (i: number) => number): number {
  let sink = 0;
  for (let i = 0; i < 200_000; i++) sink += fn(i & 4095); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) sink += fn(i & 4095);
  const ns = Number(process.hrtime.bigint() - t0) / ITERATIONS;
  if (sink === -1) console.log(sink);
  return ns;
}

const cases: Record<string, (i: number) => number> = {
  aviary: (i) => {
    const v = views[i] as Decidable;
    const svc = findService(plan, v.headers[plan.hostSlot], v.url);
    return svc === undefined ? 0 : chooseVersion(svc, v).role === "canary" ? 1 : 0;
  },
  unleashStyle: (i) =>
    (murmurhash3js.x86.hash32(`checkout:${ids[i]}`, 0) % 100) + 1 <= 10 ? 1 : 0,
  randomDraw: () => (Math.random() * 10_000 < 1000 ? 1 : 0),
};

const samples: Record<string, number[]> = Object.fromEntries(
  Object.keys(cases).map((k) => [k, []]),
);
for (let r = 0; r < reps; r++) {
  for (const [name, fn] of Object.entries(cases)) samples[name]?.push(timeNs(fn));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const result = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, median(xs)]));
const nsPerDecision = result.aviary as number;
const out = {
  nsPerDecision,
  peers: { unleashStyleHashOnly: result.unleashStyle, randomDrawOnly: result.randomDraw },
  ratios: { vsUnleashStyleHashOnly: (result.unleashStyle as number) / nsPerDecision },
  reps,
  iterations: ITERATIONS,
};
if (json) {
  process.stdout.write(`${JSON.stringify(out)}\n`);
} else {
  const fmt = (n: number) => n.toFixed(1).padStart(7);
  console.log(`routing decision, median of ${reps} × ${ITERATIONS.toLocaleString()} iterations`);
  console.log(
    `  aviary (match + route + sticky hash + compare) ${fmt(nsPerDecision)} ns   target ≤ ${TARGET_NS} ns`,
  );
  console.log(
    `  peer: Unleash-style hash only (murmurhash3js) ${fmt(result.unleashStyle as number)} ns`,
  );
  console.log(
    `  peer: non-sticky random draw only             ${fmt(result.randomDraw as number)} ns`,
  );
  console.log(
    `  ratio: Unleash-style hash time / Aviary decision time = ${out.ratios.vsUnleashStyleHashOnly.toFixed(2)}`,
  );
}
await targets.destroyAll();
