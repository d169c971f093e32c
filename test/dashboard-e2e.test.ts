/**
 * The web dashboard in a real browser (Debian's Chromium driven by playwright-core) against an
 * in-process Aviary with real upstreams: an operator signs in, watches a rollout advance live
 * (the step marker moves, the weight rises, a timed pause counts down), aborts it through the
 * confirmation dialog and sees the canary fall to 0; a read-only token gets no buttons; a bad
 * token is refused with the API's words; the page fits a phone in dark mode; commands work
 * from the keyboard; a feature flag's rollout has the same page, its figures the counts
 * applications tracked per variant, and is promoted from it. Every page must load without a console error or a CSP violation.
 *
 * Needs Chromium at /usr/bin/chromium: `sudo bash scripts/install-system-deps.sh`.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Locator,
  type Page,
} from "playwright-core";
import { createToken } from "../src/cli/commands/token.js";
import { formatListenAddress } from "../src/util/address.js";
import { startAdmin, type TestAdmin } from "./admin-fixtures.js";
import { startUpstream, type Upstream } from "./fixtures.js";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = join(import.meta.dirname, "..");
/** Longest wait for the page to show something the server did. */
const WAIT_MS = 20_000;

/** Waits until the locator's element shows text matching `text`. */
async function showing(locator: Locator, text: RegExp | string, timeout = WAIT_MS): Promise<void> {
  try {
    await locator.filter({ hasText: text }).first().waitFor({ state: "visible", timeout });
  } catch {
    const now = (await locator.allTextContents().catch(() => [])).join(" | ");
    assert.fail(
      `waited ${timeout} ms for ${locator} to show ${text}; it shows: ${now || "(nothing)"}`,
    );
  }
}

describe("web dashboard in a browser", () => {
  let stable: Upstream;
  let canary: Upstream;
  let api: TestAdmin;
  let browser: Browser;
  let viewer: string;
  let clientKey: string;
  let shots: string;
  /** Console errors, page errors and CSP violations, per page. */
  const problems: string[] = [];

  const deploy = async (version: string) => {
    const res = await api.call("POST", "/api/v1/services/shop/deploy", {
      token: api.operatorToken,
      body: { version, targets: [canary.url] },
    });
    assert.equal(res.status, 201, res.text);
  };

  const open = async (
    options: Parameters<Browser["newContext"]>[0] = {},
  ): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      ...options,
    });
    const page = await context.newPage();
    page.on("console", (m) => {
      // A refused call (401, 409) is logged by the browser itself; the page shows those.
      if (/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
        return;
      if (m.type() === "error" || /Content.Security.Policy|Trusted Type/i.test(m.text()))
        problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    return { context, page };
  };

  const signIn = async (page: Page, token: string) => {
    const res = await page.goto(`${api.admin}/`);
    assert.equal(new URL(page.url()).pathname, "/dashboard/", "/ redirects to the dashboard");
    assert.match(String(res?.headers()["content-security-policy"]), /^default-src 'self'/);
    await page.getByLabel("Token").fill(token);
    await page.getByRole("button", { name: "Sign in" }).click();
  };
  /** Signs in and waits until the page says who is signed in. */
  const signedIn = async (page: Page, token: string, who: RegExp) => {
    await signIn(page, token);
    await showing(page.getByTestId("who"), who);
  };

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `Chromium is missing (${CHROMIUM}): install it with \`sudo bash scripts/install-system-deps.sh\` (or \`apt-get install chromium\`)`,
    );
    // The page under test is the bundle of the source as it is now.
    const built = spawnSync(process.execPath, [join(ROOT, "scripts", "build-dashboard.mjs")], {
      encoding: "utf8",
    });
    assert.equal(built.status, 0, `building the dashboard failed:\n${built.stderr}`);
    shots = mkdtempSync(join(tmpdir(), "aviary-dashboard-e2e-"));
    stable = await startUpstream("v1");
    canary = await startUpstream("v2");
    api = await startAdmin({
      spec: {
        controller: { tick: "100ms" },
        services: [
          {
            name: "shop",
            match: { pathPrefix: "/shop" },
            stable: { version: "v1", targets: [stable.url] },
            strategy: {
              steps: [
                { setWeight: 10 },
                { pause: { duration: "5s" } },
                { setWeight: 40 },
                { pause: {} },
                { setWeight: 100 },
              ],
            },
          },
          {
            name: "search",
            match: { pathPrefix: "/search" },
            stable: { version: "v1", targets: [stable.url] },
            strategy: {
              steps: [{ setWeight: 20 }, { pause: {} }],
              gates: [{ name: "change-board", type: "confirm-rollout" }],
            },
          },
        ],
        // A flag rolled out like a service: its page reads the counts applications track.
        ofrep: { listen: "127.0.0.1:0" },
        flags: [
          {
            key: "new-checkout",
            type: "boolean",
            variants: { on: true, off: false },
            defaultVariant: "off",
            rollout: { variant: "on", control: "off" },
            strategy: { steps: [{ setWeight: 20 }, { pause: {} }] },
          },
        ],
      },
    });
    viewer = createToken(api.aviary.tokensFile, "viewer", "read-only").token;
    // The tracking key, made well before its use (the tokens file is re-read once a second).
    clientKey = createToken(api.aviary.tokensFile, "web", "client").token;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });

  after(async () => {
    await browser?.close();
    await api?.close();
    await Promise.all([stable?.close(), canary?.close()]);
  });

  it("an operator watches a rollout advance live and aborts it through the dialog", async () => {
    const { context, page } = await open();
    try {
      await signedIn(page, api.operatorToken, /operator · operator/);
      await showing(page.getByTestId("service-shop"), /Stable/);
      await page.getByRole("link", { name: "shop" }).click();
      await showing(page.getByTestId("phase"), "Stable");
      await showing(page.getByTestId("stream-status"), "Live");

      await deploy("v2");
      // The timed pause at 10 %: its countdown runs on the page.
      const current = page.getByTestId("current-step");
      await showing(current, /^2Pause 5s/);
      await showing(page.getByTestId("countdown"), /left|ending/);
      await showing(page.getByTestId("weight").first(), "10%");
      // The marker moves on by itself to the manual pause, and the weight rises to 40 %.
      await showing(current, /^4Pause until promoted/);
      await showing(page.getByTestId("weight").first(), "40%");
      assert.equal(await page.locator(".tl-done").count(), 3, "steps 1-3 ticked");
      await showing(page.getByTestId("history"), /Weight set.*40%/);

      await page.getByRole("button", { name: "Abort", exact: true }).click();
      const dialog = page.getByRole("dialog", { name: "Abort the rollout of v2?" });
      await dialog.waitFor({ state: "visible" });
      await dialog.getByLabel(/Reason/).fill("e2e: looks wrong");
      await dialog.getByRole("button", { name: "Abort rollout" }).click();
      await dialog.waitFor({ state: "hidden" });

      await showing(page.getByTestId("phase"), "Aborted");
      await showing(page.getByTestId("weight").first(), /^0%$/);
      await showing(page.getByTestId("reason"), "aborted by operator:operator: e2e: looks wrong");
      await showing(page.getByTestId("live-region"), "shop: rollout aborted");
      await showing(page.getByTestId("current-step"), /stopped here/);
      const stored = await api.call("GET", "/api/v1/services/shop", { token: viewer });
      assert.equal(stored.json.rollout.phase, "Aborted");
      assert.equal(stored.json.traffic.weight, 0);

      const shot = join(shots, "rollout.png");
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 10_000, `screenshot at ${shot}`);
    } finally {
      await context.close();
    }
    assert.deepEqual(problems, []);
  });

  it("shows the API's refusal in the dialog and keeps it open", async () => {
    const { context, page } = await open();
    try {
      await signedIn(page, api.operatorToken, /operator · operator/);
      await page.goto(`${api.admin}/dashboard/#/services/shop`);
      await showing(page.getByTestId("phase"), "Aborted");
      await page.getByRole("button", { name: "Retry" }).click();
      const dialog = page.getByRole("dialog", { name: "Retry the rollout of v2?" });
      await dialog.waitFor({ state: "visible" });
      // Someone else retries first: this one then meets a rollout that is not aborted any more.
      const retried = await api.call("POST", "/api/v1/services/shop/retry", {
        token: api.operatorToken,
        body: {},
      });
      assert.equal(retried.status, 200, retried.text);
      await showing(page.getByTestId("phase"), /Progressing|Timed pause|Paused/);
      await dialog.getByRole("button", { name: "Retry" }).click();
      await showing(
        dialog.getByRole("alert"),
        /only an aborted rollout can be retried; this one is (Progressing|Paused)/,
      );
      assert.ok(await dialog.isVisible(), "the dialog stays open on a refusal");
      await dialog.getByRole("button", { name: "Cancel" }).click();
      await dialog.waitFor({ state: "hidden" });
      await showing(page.getByTestId("current-step"), /^4Pause until promoted/);
    } finally {
      await context.close();
    }
    assert.deepEqual(problems, []);
  });

  it("an operator opens the gate a rollout waits at, and the rollout goes on", async () => {
    const { context, page } = await open();
    try {
      await signedIn(page, api.operatorToken, /operator · operator/);
      const deployed = await api.call("POST", "/api/v1/services/search/deploy", {
        token: api.operatorToken,
        body: { version: "v2", targets: [canary.url] },
      });
      assert.equal(deployed.status, 201, deployed.text);
      await showing(page.getByTestId("service-search"), /Waiting: waiting at gate change-board/);
      await page.getByRole("link", { name: "search" }).click();
      const banner = page.getByTestId("gate-banner");
      await showing(banner, /Waiting at gate change-board before any traffic moves/);
      await showing(page.getByTestId("current-step"), /^Gate change-board/);
      await banner.getByRole("button", { name: "Open gate" }).click();
      const dialog = page.getByRole("dialog", { name: "Open gate change-board?" });
      await dialog.getByRole("button", { name: "Open gate change-board" }).click();
      await dialog.waitFor({ state: "hidden" });
      await showing(page.getByTestId("current-step"), /^2Pause until promoted/);
      await showing(page.getByTestId("weight").first(), "20%");
      await showing(page.getByTestId("history"), /Gate opened.*operator:operator/);
      assert.equal(await banner.count(), 0, "no longer waiting");
    } finally {
      await context.close();
    }
    assert.deepEqual(problems, []);
  });

  it("a flag's rollout has its page: the tracked counts per variant, and Promote", async () => {
    const ofrep = api.aviary.ofrep?.address;
    assert.ok(ofrep);
    const tracked = await fetch(`http://${formatListenAddress(ofrep)}/aviary/v1/flags/track`, {
      method: "POST",
      headers: { authorization: `Bearer ${clientKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        exposures: [
          { flag: "new-checkout", variant: "on", count: 40 },
          { flag: "new-checkout", variant: "off", count: 160 },
        ],
        events: [{ name: "error", flag: "new-checkout", variant: "on", count: 10 }],
      }),
    });
    assert.equal(tracked.status, 200, await tracked.text());
    const { context, page } = await open();
    try {
      await signedIn(page, api.operatorToken, /operator · operator/);
      await showing(page.getByTestId("service-flag:new-checkout"), /new-checkout/);
      await page.goto(
        `${api.admin}/dashboard/#/services/${encodeURIComponent("flag:new-checkout")}`,
      );
      await showing(page.getByTestId("current-step"), /^2Pause until promoted/);
      await showing(page.getByTestId("weight").first(), "20%");
      // The figures are the tracked exposures and error events, per variant.
      await showing(page.locator("tr.row-canary"), /canary on\s*40\s*25(\.0)?\s*%/);
      await showing(page.locator("tr.row-stable"), /stable off\s*160\s*0(\.0)?\s*%/);

      await page.getByRole("button", { name: "Promote", exact: true }).click();
      // The manual pause is the last step, so promoting it finishes the rollout.
      const dialog = page.getByRole("dialog", { name: /^(Promote on|Finish step 2)\?$/ });
      await dialog.getByRole("button", { name: "Promote" }).click();
      await dialog.waitFor({ state: "hidden" });
      await showing(page.getByTestId("phase"), /Healthy|Promoted/);
      await showing(page.getByTestId("history"), /Promoted/);
      const stored = await api.call(
        "GET",
        `/api/v1/services/${encodeURIComponent("flag:new-checkout")}`,
        {
          token: viewer,
        },
      );
      assert.equal(stored.json.rollout.phase, "Healthy", stored.text);
    } finally {
      await context.close();
    }
    assert.deepEqual(problems, []);
  });

  it("a read-only token sees everything and no command button", async () => {
    const { context, page } = await open();
    try {
      await signedIn(page, viewer, /viewer · read-only/);
      await page.goto(`${api.admin}/dashboard/#/services/shop`);
      // An active rollout at a manual pause: an operator would have Promote, Abort, etc.
      await showing(page.getByTestId("current-step"), /^4Pause until promoted/);
      await showing(page.getByTestId("history"), /Rollout retried|Rollout started/);
      assert.equal(await page.locator("[data-action]").count(), 0, "no command buttons");
      assert.equal(
        await page.getByRole("button", { name: /Abort|Promote|Pause|Resume/ }).count(),
        0,
      );
    } finally {
      await context.close();
    }
    assert.deepEqual(problems, []);
  });

  it("refuses a bad token with a clear error and keeps nothing of it", async () => {
    const { context, page } = await open();
    try {
      await signIn(page, "not-a-token-anyone-was-given");
      await showing(page.getByRole("alert"), /Sign-in refused: the bearer token is not known/);
      assert.equal(await page.evaluate("sessionStorage.getItem('aviary.token')"), null);
      assert.equal(new URL(page.url()).hash, "", "no token in the URL");
      await page.getByLabel("Token").fill("two words");
      await page.getByRole("button", { name: "Sign in" }).click();
      await showing(page.getByRole("alert"), /a token has no spaces in it/);
    } finally {
      await context.close();
    }
    assert.deepEqual(problems, []);
  });

  it("fits a phone in dark mode, and commands work from the keyboard with focus kept in the dialog", async () => {
    const { context, page } = await open({
      viewport: { width: 375, height: 812 },
      colorScheme: "dark",
      hasTouch: true,
    });
    try {
      await signedIn(page, api.operatorToken, /operator · operator/);
      await showing(page.getByTestId("service-shop"), /shop/);
      assert.equal(
        await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"),
        true,
        "the overview does not scroll sideways at 375 px",
      );
      await page.goto(`${api.admin}/dashboard/#/services/shop`);
      await showing(page.getByTestId("current-step"), /^4Pause until promoted/);
      await page.locator(".chart canvas").first().waitFor({ state: "attached", timeout: WAIT_MS });
      assert.equal(
        await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"),
        true,
        "the rollout page does not scroll sideways at 375 px",
      );
      const background = await page.evaluate("getComputedStyle(document.body).backgroundColor");
      assert.equal(background, "rgb(15, 18, 23)", "dark scheme");

      // Tab to the Promote command, open it with Enter.
      const focused = () => page.evaluate("document.activeElement?.textContent ?? ''");
      for (let i = 0; i < 80 && (await focused()) !== "Promote"; i++)
        await page.keyboard.press("Tab");
      assert.equal(await focused(), "Promote", "the Promote button is reachable with Tab");
      await page.keyboard.press("Enter");
      const dialog = page.getByRole("dialog", { name: "Finish step 4?" });
      await dialog.waitFor({ state: "visible" });
      for (let i = 0; i < 5; i++) {
        await page.keyboard.press("Tab");
        assert.equal(
          await page.evaluate("document.activeElement?.closest('dialog') !== null"),
          true,
          "focus stays in the dialog",
        );
      }
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "hidden" });
      assert.equal(await focused(), "Promote", "focus returns to the button that opened it");
      await page.keyboard.press("Enter");
      await dialog.waitFor({ state: "visible" });
      assert.equal(await focused(), "Promote", "a safe command starts on its confirm button");
      await page.keyboard.press("Enter");
      await dialog.waitFor({ state: "hidden" });
      await showing(page.getByTestId("phase"), "Healthy");
      await showing(page.getByTestId("weight").first(), /^0%$/);
      await showing(page.getByTestId("live-region"), "shop: promoted");
    } finally {
      await context.close();
    }
    assert.deepEqual(problems, []);
  });
});

describe("web dashboard with auth.anonymousRead", () => {
  let stable: Upstream;
  let api: TestAdmin;
  let browser: Browser;

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `Chromium is missing (${CHROMIUM}): install it with \`sudo bash scripts/install-system-deps.sh\` (or \`apt-get install chromium\`)`,
    );
    stable = await startUpstream("v1");
    api = await startAdmin({
      spec: {
        auth: { anonymousRead: true },
        services: [
          {
            name: "shop",
            match: { pathPrefix: "/shop" },
            stable: { version: "v1", targets: [stable.url] },
            strategy: { steps: [{ setWeight: 20 }, { pause: {} }] },
          },
        ],
      },
    });
    const deployed = await api.call("POST", "/api/v1/services/shop/deploy", {
      token: api.operatorToken,
      body: { version: "v2", targets: [stable.url] },
    });
    assert.equal(deployed.status, 201, deployed.text);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });
  after(async () => {
    await browser?.close();
    await api?.close();
    await stable?.close();
  });

  it("shows the read views without signing in, with no command button, and lets one sign in", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await context.newPage();
      await page.goto(`${api.admin}/dashboard/#/services/shop`);
      await showing(page.getByTestId("who"), "Not signed in (read-only)");
      await showing(page.getByTestId("current-step"), /^2Pause until promoted/);
      assert.equal(await page.locator("[data-action]").count(), 0);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByLabel("Token").fill(api.operatorToken);
      await page.getByRole("button", { name: "Sign in" }).click();
      await showing(page.getByTestId("who"), /operator · operator/);
      await showing(page.getByRole("button", { name: "Abort", exact: true }), "Abort");
    } finally {
      await context.close();
    }
  });
});
