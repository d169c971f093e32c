/**
 * In-process evaluation through the Node provider (`aviary/openfeature`): ns per evaluation of
 * a measured boolean flag (one targeting rule, a 5 % rollout, so every evaluation also counts
 * an exposure), three ways: the provider's resolve path without the Promise the Provider
 * interface wraps it in, `resolveBooleanEvaluation` awaited, and the published
 * `@openfeature/server-sdk` client's `getBooleanValue` (the SDK's own hooks and bookkeeping
 * included), next to the same SDK call on the SDK's own `InMemoryProvider`. The flag set comes from a local HTTP server answering the provider's
 * `GET /aviary/v1/flags` and its reports. Median of 5 runs; the target is 1 µs.
 *
 * Usage: npm run bench:flags-provider [-- --json]
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { InMemoryProvider, OpenFeature } from "@openfeature/server-sdk";
import { Flag } from "../../src/flags/schema.js";
import { AviaryProvider } from "../../src/openfeature/index.js";

const json = process.argv.includes("--json");
const RUNS = 5;
const N = 200_000;

const flag = Flag.parse({
  key: "new-checkout",
  type: "boolean",
  variants: { on: true, off: false },
  defaultVariant: "off",
  rules: [{ when: [{ attribute: "user-type", equals: "beta-tester" }], variant: "on" }],
  rollout: { variant: "on", percent: 5 },
});
const setText = JSON.stringify({ revision: 1, flags: [flag], eventStreams: [] });
const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    const body = req.url === "/aviary/v1/flags" ? setText : '{"accepted":0,"refusedCount":0}';
    res.writeHead(200, { "content-type": "application/json", etag: '"1"' });
    res.end(body);
  });
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const port = (server.address() as AddressInfo).port;

const provider = new AviaryProvider({
  baseUrl: `http://127.0.0.1:${port}`,
  clientKey: "bench",
  changes: "polling",
  pollIntervalMs: 3_600_000,
});
await OpenFeature.setProviderAndWait(provider);
const client = OpenFeature.getClient();
// The SDK's own in-memory provider under the same client path, to tell the SDK's cost apart.
await OpenFeature.setProviderAndWait(
  "in-memory",
  new InMemoryProvider({
    "new-checkout": { variants: { on: true, off: false }, defaultVariant: "off", disabled: false },
  }),
);
const inMemory = OpenFeature.getClient("in-memory");

const contexts = Array.from({ length: 4096 }, (_, i) => ({
  targetingKey: `user-${(i * 7919) % 1_000_003}`,
  "user-type": i % 10 === 0 ? "beta-tester" : "customer",
}));

async function measure(n: number, one: (i: number) => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const r = one(i);
    if (r instanceof Promise) await r;
  }
  return Number(process.hrtime.bigint() - t0) / n;
}

async function median(
  n: number,
  one: (i: number) => unknown,
): Promise<{ ns: number; runs: number[] }> {
  await measure(n, one); // warm-up
  const runs: number[] = [];
  for (let k = 0; k < RUNS; k++) runs.push(await measure(n, one));
  runs.sort((a, b) => a - b);
  return { ns: runs[Math.floor(RUNS / 2)] as number, runs };
}

const sync = await median(N * 5, (i) =>
  provider.resolveSync("new-checkout", false, contexts[i & 4095]!, "boolean"),
);
const resolve = await median(N, (i) =>
  provider.resolveBooleanEvaluation("new-checkout", false, contexts[i & 4095]!, console),
);
const sdk = await median(N, (i) =>
  client.getBooleanValue("new-checkout", false, contexts[i & 4095]!),
);
const sdkInMemory = await median(N, (i) =>
  inMemory.getBooleanValue("new-checkout", false, contexts[i & 4095]!),
);
const exposures = provider.stats();
await OpenFeature.close();
server.close();

const out = {
  providerNs: sync.ns,
  providerAsyncNs: resolve.ns,
  sdkNs: sdk.ns,
  sdkInMemoryNs: sdkInMemory.ns,
  runs: {
    provider: sync.runs,
    providerAsync: resolve.runs,
    sdk: sdk.runs,
    sdkInMemory: sdkInMemory.runs,
  },
  dropped: exposures.dropped,
};
if (json) console.log(JSON.stringify(out));
else
  console.log(
    [
      `AviaryProvider, measured flag (1 rule + 5 % rollout, exposure counted), median of ${RUNS}:`,
      `  resolve path:                       ${sync.ns.toFixed(1)} ns/evaluation`,
      `  resolveBooleanEvaluation (awaited): ${resolve.ns.toFixed(1)} ns/evaluation`,
      `  server SDK getBooleanValue:         ${sdk.ns.toFixed(1)} ns/evaluation`,
      `  the same, SDK's InMemoryProvider:   ${sdkInMemory.ns.toFixed(1)} ns/evaluation`,
    ].join("\n"),
  );
