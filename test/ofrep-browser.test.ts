/**
 * The published OpenFeature web SDK with the published OFREP web provider, bundled for the
 * browser with esbuild and run in Debian's Chromium (driven by playwright-core), from a page on
 * its own loopback origin against Aviary's OFREP listener on another, so every request crosses
 * origins as a real web app's does (a preflight for the key header, CORS on each answer).
 * Covered: boolean, string and object flags; targeting (beta testers get the new variant, the
 * others by percentage, as Aviary's own evaluation says); a change brought by the SSE change
 * stream and, in another page, by polling, seen as PROVIDER_CONFIGURATION_CHANGED and a new
 * value on the page; a rollback reaching every connected page.
 *
 * Needs Chromium at /usr/bin/chromium: `sudo bash scripts/install-system-deps.sh`.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { build } from "esbuild";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { evaluate } from "../src/flags/evaluate.js";
import { Flag } from "../src/flags/schema.js";
import type { SpecInput } from "../src/spec/schema.js";
import { CLIENT_KEY, type OfrepAviary, startOfrepAviary } from "./ofrep-fixtures.js";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = join(import.meta.dirname, "..");
/** Longest wait for a page to see something the server did. */
const WAIT_MS = 15_000;

type Flags = NonNullable<SpecInput["flags"]>;

const CHECKOUT = {
  key: "new-checkout",
  type: "boolean",
  variants: { on: true, off: false },
  defaultVariant: "off",
  rules: [
    {
      name: "beta testers",
      when: [{ attribute: "user-type", equals: "beta-tester" }],
      variant: "on",
    },
  ],
  rollout: { variant: "on", percent: 50 },
} satisfies Flags[number];

const FLAGS: Flags = [
  CHECKOUT,
  {
    key: "banner-text",
    type: "string",
    variants: { plain: "Welcome", festive: "Happy holidays" },
    defaultVariant: "plain",
  },
  {
    key: "theme",
    type: "object",
    variants: {
      classic: { color: "blue", compact: false },
      bold: { color: "orange", compact: true },
    },
    defaultVariant: "classic",
  },
];

/** The rollback: the control variant for everyone (no rule, no rollout). */
const ROLLED_BACK: Flags = FLAGS.map((f) =>
  f.key === CHECKOUT.key ? { ...CHECKOUT, rules: [], rollout: undefined } : f,
);
const FESTIVE: Flags = FLAGS.map((f) =>
  f.key === "banner-text" ? { ...f, defaultVariant: "festive" } : f,
);

/**
 * The page's script: the SDK and the provider, and a small API the test calls through
 * page.evaluate. Every configuration change is reported to the test through an exposed
 * function, with the values the page shows after it.
 */
const PAGE_SCRIPT = `
import { OpenFeature, ProviderEvents } from "@openfeature/web-sdk";
import { OFREPWebProvider } from "@openfeature/ofrep-web-provider";

let client;
function read() {
  const d = client.getBooleanDetails("new-checkout", false);
  return {
    checkout: d.value,
    variant: d.variant,
    reason: d.reason,
    errorCode: d.errorCode,
    banner: client.getStringValue("banner-text", "?"),
    theme: client.getObjectValue("theme", {}),
  };
}
function show() {
  const v = read();
  document.getElementById("checkout").textContent = String(v.checkout);
  document.getElementById("banner").textContent = v.banner;
  document.getElementById("theme").textContent = JSON.stringify(v.theme);
  return v;
}
window.flagsPage = {
  async start(o) {
    await OpenFeature.setContext(o.context);
    client = OpenFeature.getClient();
    client.addHandler(ProviderEvents.ConfigurationChanged, (e) => {
      const values = show();
      window.reportEvent({ type: ProviderEvents.ConfigurationChanged, flagsChanged: e?.flagsChanged ?? null, values });
    });
    await OpenFeature.setProviderAndWait(new OFREPWebProvider({
      baseUrl: o.baseUrl,
      headers: [["X-API-Key", o.key]],
      changeDetection: o.changeDetection,
      ...(o.pollInterval ? { pollInterval: o.pollInterval } : {}),
      cacheMode: "disabled",
    }));
    return show();
  },
  read,
  /** The new-checkout value for each context, each set in turn as a page's user changes. */
  async evaluateFor(contexts) {
    const out = [];
    for (const c of contexts) {
      await OpenFeature.setContext(c);
      out.push(read());
    }
    return out;
  },
};
`;

const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>flags</title><script type="module" src="/app.js"></script></head>
<body><p>checkout: <span id="checkout">…</span></p><p>banner: <span id="banner">…</span></p>
<p>theme: <span id="theme">…</span></p></body></html>`;

interface Values {
  checkout: boolean;
  variant?: string;
  reason?: string;
  errorCode?: string;
  banner: string;
  theme: Record<string, unknown>;
}
interface Reported {
  type: string;
  flagsChanged: string[] | null;
  values: Values;
}
interface OpenPage {
  context: BrowserContext;
  page: Page;
  events: Reported[];
}

describe("@openfeature/web-sdk with @openfeature/ofrep-web-provider in Chromium", () => {
  let av: OfrepAviary;
  let browser: Browser;
  let site: Server;
  let siteUrl: string;
  /** Console errors and page errors, of every page. */
  const problems: string[] = [];
  /** Methods of the requests the OFREP listener received (preflights included). */
  const methods: string[] = [];
  const pages: OpenPage[] = [];

  const open = async (opts: {
    context: Record<string, unknown>;
    changeDetection: "sse" | "polling";
  }): Promise<OpenPage & { started: Values }> => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const events: Reported[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.exposeFunction("reportEvent", (e: Reported) => {
      events.push(e);
    });
    await page.goto(`${siteUrl}/`);
    await page.waitForFunction(() => "flagsPage" in globalThis, undefined, { timeout: WAIT_MS });
    const started = (await page.evaluate(
      (o) =>
        (
          globalThis as unknown as { flagsPage: { start(o: unknown): Promise<unknown> } }
        ).flagsPage.start(o),
      {
        baseUrl: av.ofrep,
        key: CLIENT_KEY,
        context: opts.context,
        changeDetection: opts.changeDetection,
        ...(opts.changeDetection === "polling" ? { pollInterval: 100 } : {}),
      },
    )) as Values;
    const p = { context, page, events };
    pages.push(p);
    return { ...p, started };
  };

  const read = async (p: OpenPage): Promise<Values> =>
    (await p.page.evaluate(() =>
      (globalThis as unknown as { flagsPage: { read(): unknown } }).flagsPage.read(),
    )) as Values;

  /** Waits until the page reported a configuration change after which `ok` holds. */
  const changedTo = async (p: OpenPage, from: number, ok: (v: Values) => boolean, what: string) => {
    const end = performance.now() + WAIT_MS;
    while (!p.events.slice(from).some((e) => ok(e.values))) {
      if (performance.now() > end)
        assert.fail(
          `waited ${WAIT_MS} ms for ${what}; the page reported ${JSON.stringify(p.events.slice(from))}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
    const e = p.events.slice(from).find((x) => ok(x.values));
    assert.equal(e?.type, "PROVIDER_CONFIGURATION_CHANGED");
    assert.ok(ok(await read(p)), `${what}: the page's values now`);
  };

  const streamsOpen = async (n: number) => {
    const end = performance.now() + WAIT_MS;
    while ((av.aviary.ofrep?.streams.size ?? 0) < n) {
      if (performance.now() > end)
        assert.fail(`${av.aviary.ofrep?.streams.size} change streams open, not ${n}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `Chromium is missing (${CHROMIUM}): install it with \`sudo bash scripts/install-system-deps.sh\` (or \`apt-get install chromium\`)`,
    );
    const out = mkdtempSync(join(tmpdir(), "aviary-ofrep-browser-"));
    await build({
      stdin: { contents: PAGE_SCRIPT, resolveDir: ROOT, loader: "js", sourcefile: "page.js" },
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "chrome110",
      outfile: join(out, "app.js"),
      logLevel: "silent",
    });
    const bundle = readFileSync(join(out, "app.js"));
    site = createServer((req, res) => {
      if (req.url === "/favicon.ico") {
        res.writeHead(204);
        res.end();
      } else if (req.url === "/app.js") {
        res.writeHead(200, { "content-type": "text/javascript" });
        res.end(bundle);
      } else if (req.url === "/") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(PAGE_HTML);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    // "localhost" here and 127.0.0.1 for OFREP: two origins by host as well as by port.
    await new Promise<void>((r) => site.listen(0, "127.0.0.1", r));
    const at = site.address();
    assert.ok(at !== null && typeof at === "object");
    siteUrl = `http://localhost:${at.port}`;
    av = await startOfrepAviary({ flags: FLAGS });
    av.aviary.ofrep?.server.on("request", (req) => methods.push(req.method ?? ""));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });

  after(async () => {
    for (const p of pages) await p.context.close().catch(() => {});
    await browser?.close();
    await av?.close();
    await new Promise((r) => site?.close(r));
  });

  it("evaluates boolean, string and object flags across origins", async () => {
    const p = await open({
      context: { targetingKey: "beta-1", "user-type": "beta-tester" },
      changeDetection: "sse",
    });
    assert.notEqual(new URL(siteUrl).origin, new URL(av.ofrep).origin);
    assert.deepEqual(JSON.parse(JSON.stringify(p.started)), {
      checkout: true,
      variant: "on",
      reason: "TARGETING_MATCH",
      banner: "Welcome",
      theme: { color: "blue", compact: false },
    });
    assert.equal(await p.page.locator("#checkout").textContent(), "true");
    assert.equal(await p.page.locator("#theme").textContent(), '{"color":"blue","compact":false}');
    assert.ok(methods.includes("OPTIONS"), "the browser sent a CORS preflight");
    assert.deepEqual(problems, []);
  });

  it("targets beta testers, and the others by percentage as Aviary evaluates them", async () => {
    const p = pages[0];
    assert.ok(p !== undefined);
    const contexts = [
      { targetingKey: "beta-2", "user-type": "beta-tester" },
      ...Array.from({ length: 30 }, (_, i) => ({ targetingKey: `user-${i}` })),
    ];
    const got = (await p.page.evaluate(
      (cs) =>
        (
          globalThis as unknown as { flagsPage: { evaluateFor(c: unknown): Promise<unknown> } }
        ).flagsPage.evaluateFor(cs),
      contexts,
    )) as Values[];
    const flag = Flag.parse(CHECKOUT);
    got.forEach((v, i) => {
      const want = evaluate(flag, contexts[i] as Record<string, string>);
      assert.equal(v.checkout, want.value, JSON.stringify(contexts[i]));
      assert.equal(v.reason, want.reason, JSON.stringify(contexts[i]));
    });
    assert.equal(got[0]?.reason, "TARGETING_MATCH");
    const on = got.slice(1).filter((v) => v.checkout).length;
    assert.ok(on > 0 && on < 30, `50 % rollout: ${on} of 30 have it`);
    await p.page.evaluate(() =>
      (
        globalThis as unknown as { flagsPage: { evaluateFor(c: unknown): Promise<unknown> } }
      ).flagsPage.evaluateFor([{ targetingKey: "beta-1", "user-type": "beta-tester" }]),
    );
  });

  it("picks up a change over the SSE stream, and over polling in another page", async () => {
    const sse = pages[0];
    assert.ok(sse !== undefined);
    const polling = await open({
      context: { targetingKey: "poller-1", "user-type": "beta-tester" },
      changeDetection: "polling",
    });
    await streamsOpen(1);
    const marks = [sse.events.length, polling.events.length];
    await av.setFlags(FESTIVE);
    await changedTo(sse, marks[0] ?? 0, (v) => v.banner === "Happy holidays", "SSE: festive");
    await changedTo(
      polling,
      marks[1] ?? 0,
      (v) => v.banner === "Happy holidays",
      "polling: festive",
    );
    assert.equal(await sse.page.locator("#banner").textContent(), "Happy holidays");
    assert.equal(await polling.page.locator("#banner").textContent(), "Happy holidays");
    assert.equal(av.aviary.ofrep?.streams.size, 1, "only the SSE page holds a stream");
    assert.deepEqual(problems, []);
  });

  it("a rollback reaches every connected page", async () => {
    for (let i = 2; i <= 4; i++)
      await open({
        context: { targetingKey: `beta-${i + 10}`, "user-type": "beta-tester" },
        changeDetection: "sse",
      });
    await streamsOpen(4);
    assert.equal(pages.length, 5);
    for (const p of pages) assert.equal((await read(p)).checkout, true, "on before the rollback");
    const marks = pages.map((p) => p.events.length);
    await av.setFlags(ROLLED_BACK);
    await Promise.all(
      pages.map((p, i) =>
        changedTo(
          p,
          marks[i] ?? 0,
          (v) => v.checkout === false && v.reason === "STATIC",
          `page ${i}: rolled back`,
        ),
      ),
    );
    for (const p of pages) assert.equal(await p.page.locator("#checkout").textContent(), "false");
    assert.deepEqual(problems, []);
  });
});
