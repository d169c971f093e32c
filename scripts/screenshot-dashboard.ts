/**
 * Writes docs/dashboard.png: the rollout page at 1280×900 in light mode, with five minutes of
 * traffic behind its charts. Aviary runs in-process on a ManualClock that starts five minutes
 * in the past and is walked forward a second at a time, each second carrying real requests
 * through the router to two sample versions, until it has caught up with the wall clock; from
 * then on it keeps pace with it, so the page's countdown (server clock from the Date header)
 * and the rollout's timestamps agree. Then Debian's Chromium signs in and takes the picture.
 *
 * Usage: npm run screenshot  (builds first; needs /usr/bin/chromium)
 */

import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { Pool } from "undici";
import { startSampleService } from "../src/demo/sample-service.js";
import { startAviary } from "../src/server.js";
import { Spec } from "../src/spec/schema.js";
import { formatListenAddress } from "../src/util/address.js";
import { ManualClock } from "../src/util/clock.js";
import { silentLogger } from "../src/util/log.js";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = join(import.meta.dirname, "..");
const OUT = join(ROOT, "docs", "dashboard.png");
/** Requests sent per simulated second. */
const PER_SECOND = 24;
const HISTORY_MS = 5 * 60_000;

if (!existsSync(CHROMIUM)) {
  console.error(
    `Chromium is missing (${CHROMIUM}): sudo bash scripts/install-system-deps.sh (or apt-get install chromium)`,
  );
  process.exit(1);
}
if (!existsSync(join(ROOT, "dist", "dashboard", "index.html"))) {
  console.error("the dashboard is not built: run `npm run build` (npm run screenshot does)");
  process.exit(1);
}

const v1 = await startSampleService({ version: "v1", errorRate: 0.004, latencyMs: 12 });
const v2 = await startSampleService({ version: "v2", errorRate: 0.006, latencyMs: 14 });
const clock = new ManualClock(Date.now() - HISTORY_MS);
const dataDir = join(mkdtempSync(join(tmpdir(), "aviary-screenshot-")), "data");
const spec = Spec.parse({
  listen: "127.0.0.1:0",
  admin: "127.0.0.1:0",
  services: [
    {
      name: "shop",
      match: { pathPrefix: "/shop" },
      stable: { version: "v1", targets: [v1.url] },
      stickiness: { header: "x-user-id" },
      strategy: {
        steps: [
          { setWeight: 10 },
          { pause: { duration: "1m" } },
          { setWeight: 25 },
          { pause: { duration: "10m" } },
          { setWeight: 50 },
          { pause: {} },
          { setWeight: 100 },
        ],
        analysis: { templates: ["golden-signals"] },
        gates: [{ name: "release-manager", type: "confirm-promotion" }],
      },
    },
  ],
  analysisTemplates: [
    {
      name: "golden-signals",
      metrics: [
        {
          name: "error-rate",
          interval: "15s",
          provider: { builtin: { signal: "errorRate" } },
          judge: { sequential: { alpha: 0.001, minBakeTime: "10m" } },
        },
        {
          name: "latency",
          interval: "15s",
          provider: { builtin: { signal: "latencyP99" } },
          judge: { sequential: { alpha: 0.001, minBakeTime: "10m", slowThresholdMs: 60 } },
        },
      ],
    },
  ],
});

delete process.env.AVIARY_TOKEN;
const aviary = await startAviary({ spec, log: silentLogger(), dataDir, clock });
const token = readFileSync(join(dataDir, "operator-token"), "utf8").trim();
const admin = `http://${formatListenAddress(aviary.adminAddress)}`;
const router = new Pool(`http://${formatListenAddress(aviary.listen)}`, { connections: 8 });
let user = 0;

/** One simulated second: a burst of requests, then the clock moves on by a second. */
async function second(): Promise<void> {
  await Promise.all(
    Array.from({ length: PER_SECOND }, async () => {
      const res = await router.request({
        path: "/shop/cart",
        method: "GET",
        headers: { "x-user-id": `u${user++ % 997}` },
      });
      await res.body.dump();
    }),
  );
  clock.advance(1000);
  // Let the controller and the analysis act on what the second brought.
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

let pacing: NodeJS.Timeout | undefined;
try {
  for (let s = 0; clock.now() < Date.now(); s++) {
    if (s === 30) {
      const deployed = await fetch(`${admin}/api/v1/services/shop/deploy`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ version: "v2", targets: [v2.url] }),
      });
      if (deployed.status !== 201) throw new Error(`deploy answered ${deployed.status}`);
    }
    await second();
  }
  // Caught up: from here the clock follows the wall clock, traffic continues at the same pace.
  let busy = false;
  pacing = setInterval(() => {
    if (busy || Date.now() - clock.now() < 1000) return;
    busy = true;
    second().finally(() => {
      busy = false;
    });
  }, 250);

  const state = (await (
    await fetch(`${admin}/api/v1/services/shop`, { headers: { authorization: `Bearer ${token}` } })
  ).json()) as { rollout: { phase: string; stepIndex: number; reason: string } | null };
  if (state.rollout?.stepIndex !== 3)
    throw new Error(`the rollout is not at its 10-minute pause: ${JSON.stringify(state.rollout)}`);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      colorScheme: "light",
      reducedMotion: "reduce",
    });
    const page = await context.newPage();
    await page.goto(`${admin}/dashboard/`);
    await page.getByLabel("Token").fill(token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByTestId("who").waitFor();
    await page.goto(`${admin}/dashboard/#/services/shop`);
    await page.getByTestId("countdown").waitFor({ timeout: 20_000 });
    await page.locator(".chart canvas").nth(3).waitFor({ timeout: 20_000 });
    await page.locator(".measurement").first().waitFor({ timeout: 20_000 });
    await page.getByTestId("stream-status").filter({ hasText: "Live" }).waitFor();
    await page.screenshot({ path: OUT });
    console.log(`wrote ${OUT}`);
  } finally {
    await browser.close();
  }
} finally {
  clearInterval(pacing);
  await router.close();
  await aviary.close();
  await Promise.all([v1.close(), v2.close()]);
  rmSync(dataDir, { recursive: true, force: true });
}
