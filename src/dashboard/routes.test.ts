import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Fastify, { type FastifyInstance } from "fastify";
import type { AccessConfig } from "../api/auth.js";
import { CONTENT_SECURITY_POLICY, DASHBOARD_ROUTES, registerDashboard } from "./routes.js";

const HASH = "0123456789abcdef";

async function appFor(dir: string) {
  const app = Fastify();
  const routes: string[] = [];
  app.addHook("onRoute", (r) => {
    const access = (r.config as AccessConfig | undefined)?.access;
    for (const m of [r.method].flat()) routes.push(`${m} ${r.url} ${access}`);
  });
  registerDashboard(app, { dir });
  await app.ready();
  return { app, routes };
}

function securityHeadersOf(headers: Record<string, unknown>) {
  assert.equal(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
  assert.equal(headers["x-content-type-options"], "nosniff");
  assert.equal(headers["referrer-policy"], "no-referrer");
  assert.equal(headers["x-frame-options"], "DENY");
}

describe("dashboard routes", () => {
  let root: string;
  let dir: string;
  let app: FastifyInstance;
  let routes: string[];

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "aviary-dash-"));
    dir = join(root, "dashboard");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "index.html"),
      `<!doctype html><script src="app.js?v=${HASH}"></script>`,
    );
    writeFileSync(join(dir, "app.js"), "console.log('app')");
    writeFileSync(join(dir, "app.css"), "body{}");
    writeFileSync(join(dir, "favicon.svg"), "<svg/>");
    // tsc compiles the server's routes into the same folder: never served.
    writeFileSync(join(dir, "routes.js"), "export const secret = 1;");
    ({ app, routes } = await appFor(dir));
  });
  after(async () => {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("declares exactly its listed routes, every one public", () => {
    const gets = routes.filter((r) => r.startsWith("GET "));
    assert.deepEqual(
      gets.map((r) => r.replace(/ public$/, "")),
      [...DASHBOARD_ROUTES],
    );
    assert.ok(
      routes.every((r) => r.endsWith(" public")),
      routes.join("\n"),
    );
  });

  it("redirects / and /dashboard to /dashboard/", async () => {
    for (const url of ["/", "/dashboard"]) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 302, url);
      assert.equal(res.headers.location, "/dashboard/");
      securityHeadersOf(res.headers);
    }
  });

  it("serves index.html for /dashboard/, revalidated on every load, with the security headers", async () => {
    const res = await app.inject({ url: "/dashboard/" });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers["content-type"]), /^text\/html/);
    assert.equal(res.headers["cache-control"], "no-cache");
    assert.match(res.body, /app\.js\?v=/);
    securityHeadersOf(res.headers);
    const head = await app.inject({ method: "HEAD", url: "/dashboard/" });
    assert.equal(head.statusCode, 200);
  });

  it("lets a bundle requested by its hash be cached for good; without it, revalidated", async () => {
    const hashed = await app.inject({ url: `/dashboard/app.js?v=${HASH}` });
    assert.equal(hashed.statusCode, 200);
    assert.match(String(hashed.headers["content-type"]), /javascript/);
    assert.equal(hashed.headers["cache-control"], "public, max-age=31536000, immutable");
    const plain = await app.inject({ url: "/dashboard/app.css" });
    assert.equal(plain.headers["cache-control"], "no-cache");
    assert.match(String(plain.headers["content-type"]), /^text\/css/);
    const odd = await app.inject({ url: "/dashboard/app.js?v=../../x" });
    assert.equal(odd.headers["cache-control"], "no-cache");
    const etag = String(plain.headers.etag);
    const again = await app.inject({
      url: "/dashboard/app.css",
      headers: { "if-none-match": etag },
    });
    assert.equal(again.statusCode, 304, "unchanged files are not sent again");
  });

  it("serves nothing but the bundle's files: not the compiled server code, not a path out", async () => {
    for (const url of [
      "/dashboard/routes.js",
      "/dashboard/..%2F..%2Fetc%2Fpasswd",
      "/dashboard/%2E%2E%2Froutes.js",
      "/dashboard/APP.JS",
    ]) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 404, url);
      assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
      assert.equal(res.json().code, "AVIARY_NOT_FOUND");
    }
  });

  it("answers 503 saying how to build it when the bundle is missing", async () => {
    const empty = await appFor(join(root, "not-built"));
    try {
      for (const url of ["/dashboard/", "/dashboard/app.js"]) {
        const res = await empty.app.inject({ url });
        assert.equal(res.statusCode, 503, url);
        assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
        const problem = res.json();
        assert.equal(problem.code, "AVIARY_DASHBOARD_NOT_BUILT");
        assert.match(problem.detail, /run `npm run build`/);
        assert.ok(!problem.detail.includes(root), "no server path in a public answer");
        assert.equal(res.headers["cache-control"], "no-store");
        securityHeadersOf(res.headers);
      }
    } finally {
      await empty.app.close();
    }
  });
});
