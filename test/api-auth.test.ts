/**
 * Who may call what, over real HTTP against an in-process Aviary. The central test walks every
 * route Fastify registered (not a hand-kept list): a route that changes state must refuse no
 * token, an unknown token and a read-only token — and must not have changed anything — and a
 * read must refuse no token unless anonymous reads are on. A route added without auth, or a
 * public route nobody decided on, fails here.
 */

import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { registeredRoutes } from "../src/api/server.js";
import { createToken } from "../src/cli/commands/token.js";
import { DASHBOARD_ROUTES } from "../src/dashboard/routes.js";
import { type Answer, startAdmin, type TestAdmin } from "./admin-fixtures.js";
import { startUpstream, type Upstream } from "./fixtures.js";

/** The only routes anyone may call without a token. */
const PUBLIC = new Set(["GET /healthz", "GET /metrics", "GET /openapi.json"]);

const UNKNOWN_TOKEN = "not-a-token-anyone-was-given-0123456789abc";

function spec(stable: string) {
  return {
    services: [
      {
        name: "shop",
        match: { pathPrefix: "/shop" },
        stable: { version: "v1", targets: [stable] },
        strategy: { steps: [{ setWeight: 20 }, { pause: { duration: "1h" } }] },
      },
    ],
  };
}

/** A stored command, so its read route has something to answer. */
const COMMAND_ID = "cmd-for-auth";

describe("admin API authorization", () => {
  let upstream: Upstream;
  let api: TestAdmin;
  let viewer: string;
  let ci: string;
  let rolloutId: string;

  /** Everything a write could change: services, rollouts, the whole history. */
  const snapshot = async () => {
    const services = await api.call("GET", "/api/v1/services", { token: api.operatorToken });
    const events = await api.call("GET", "/api/v1/events?limit=10000", {
      token: api.operatorToken,
    });
    assert.equal(services.status, 200);
    assert.equal(events.status, 200);
    return JSON.stringify([services.json, events.json]);
  };

  /** A request a route would act on if it let the caller through. */
  const requestFor = (method: string, url: string): { path: string; body?: unknown } => {
    const path = url
      .replace(":name", "shop")
      .replace(":id", url === "/api/v1/commands/:id" ? COMMAND_ID : rolloutId)
      .replace(/:[A-Za-z]+/g, "x");
    if (method === "GET" || method === "HEAD") {
      // Reads that need a query parameter to succeed.
      const query: Record<string, string> = { "/api/v1/rollouts": "?service=shop" };
      return { path: `${path}${query[url] ?? ""}` };
    }
    const bodies: Record<string, unknown> = {
      "/api/v1/services/:name/deploy": { version: "v9", targets: [upstream.url] },
      "/api/v1/services/:name/promote": { full: true },
      "/api/v1/services/:name/abort": { reason: "should never happen" },
      "/api/v1/apply": {
        spec: `services:\n  - name: other\n    match: { pathPrefix: /other }\n    stable: { version: v1, targets: [${upstream.url}] }\n`,
      },
    };
    return { path, body: bodies[url] ?? {} };
  };

  const isProblem = (a: Answer, status: number, code: string, token?: string) => {
    assert.equal(a.status, status, a.text);
    assert.match(a.contentType, /^application\/problem\+json/);
    assert.equal(a.json.code, code);
    assert.equal(a.json.status, status);
    if (token !== undefined) assert.ok(!a.text.includes(token), "the token is never echoed");
  };

  before(async () => {
    upstream = await startUpstream("v1");
    const dataDir = join(mkdtempSync(join(tmpdir(), "aviary-auth-")), "data");
    viewer = createToken(join(dataDir, "tokens"), "viewer", "read-only").token;
    ci = createToken(join(dataDir, "tokens"), "ci", "operator").token;
    api = await startAdmin({ spec: spec(upstream.url), dataDir });
    assert.equal(api.aviary.tokensFile, join(dataDir, "tokens"));
    // A rollout waiting at its manual pause: every command has something it would change.
    const deployed = await api.call("POST", "/api/v1/services/shop/deploy", {
      token: api.operatorToken,
      body: { version: "v2", targets: [upstream.url] },
    });
    assert.equal(deployed.status, 201, deployed.text);
    rolloutId = deployed.json.rollout.id;
    // A command as a follower stores it for the leader (one instance runs commands at once);
    // for no service, so carrying it out changes nothing.
    await api.aviary.store.putCommand({
      id: COMMAND_ID,
      kind: "pause",
      service: "no-such-service",
      args: {},
      actor: "operator:ci",
      createdAt: Date.now(),
    });
  });
  after(async () => {
    await api.close();
    await upstream.close();
  });

  it("registers the table's routes and nothing public beyond /healthz, /metrics and /openapi.json", () => {
    const routes = registeredRoutes(api.aviary.admin);
    const keys = new Set(routes.map((r) => `${r.method} ${r.url}`));
    for (const expected of [
      "GET /api/v1/services",
      "GET /api/v1/services/:name",
      "GET /api/v1/services/:name/history",
      "GET /api/v1/services/:name/analysis",
      "GET /api/v1/services/:name/metrics",
      "POST /api/v1/services/:name/deploy",
      "POST /api/v1/services/:name/promote",
      "POST /api/v1/services/:name/abort",
      "POST /api/v1/services/:name/pause",
      "POST /api/v1/services/:name/resume",
      "POST /api/v1/services/:name/retry",
      "POST /api/v1/services/:name/undo",
      "POST /api/v1/apply",
      "GET /api/v1/rollouts",
      "GET /api/v1/rollouts/:id",
      "GET /api/v1/events",
      "GET /api/v1/stream",
      "GET /api/v1/whoami",
      "HEAD /api/v1/services",
    ])
      assert.ok(keys.has(expected), `${expected} is registered`);
    for (const r of routes) {
      if (r.access !== "public") continue;
      const key = `${r.method === "HEAD" ? "GET" : r.method} ${r.url}`;
      // The dashboard's static files are public by decision (src/dashboard/routes.ts).
      assert.ok(
        PUBLIC.has(key) || DASHBOARD_ROUTES.includes(key),
        `${r.method} ${r.url} is public but nobody decided it should be`,
      );
    }
  });

  it("every state-changing route refuses no token, an unknown token and a read-only token, and changes nothing", async () => {
    const writes = registeredRoutes(api.aviary.admin).filter(
      (r) => r.method !== "GET" && r.method !== "HEAD",
    );
    assert.ok(writes.length >= 8, `found ${writes.length} write routes`);
    const before = await snapshot();
    for (const r of writes) {
      const { path, body } = requestFor(r.method, r.url);
      const what = `${r.method} ${r.url}`;
      const none = await api.call(r.method, path, { body });
      isProblem(none, 401, "AVIARY_UNAUTHORIZED");
      assert.match(none.json.detail, /needs an operator token/, what);
      assert.match(String(none.headers["www-authenticate"]), /^Bearer realm="aviary"/, what);
      isProblem(
        await api.call(r.method, path, { body, token: UNKNOWN_TOKEN }),
        401,
        "AVIARY_UNAUTHORIZED",
        UNKNOWN_TOKEN,
      );
      const readOnly = await api.call(r.method, path, { body, token: viewer });
      isProblem(readOnly, 403, "AVIARY_FORBIDDEN", viewer);
      assert.match(
        readOnly.json.detail,
        /needs the operator role; the token 'viewer' has the read-only role/,
      );
      isProblem(
        await api.call(r.method, path, { body, headers: { authorization: `Basic ${ci}` } }),
        401,
        "AVIARY_UNAUTHORIZED",
        ci,
      );
      assert.equal(await snapshot(), before, `${what} changed state for a caller it refused`);
    }
  });

  it("a percent-encoded path reaches the same route and the same check", async () => {
    const before = await snapshot();
    const sneaky = await api.call("POST", "/%61pi/v1/services/shop/abort", { body: {} });
    // The router decodes it to /api/v1/services/:name/abort: a check on the URL text would
    // have let it through.
    isProblem(sneaky, 401, "AVIARY_UNAUTHORIZED");
    assert.equal(await snapshot(), before);
    const unmatched = await api.call("GET", "/api/v1/nothing-here");
    isProblem(unmatched, 401, "AVIARY_UNAUTHORIZED");
  });

  it("every read under /api/ refuses no token and an unknown one, and answers any role", async () => {
    const reads = registeredRoutes(api.aviary.admin).filter(
      (r) => (r.method === "GET" || r.method === "HEAD") && r.access !== "public",
    );
    assert.ok(reads.length >= 16, `found ${reads.length} read routes`);
    for (const r of reads) {
      const { path } = requestFor(r.method, r.url);
      const what = `${r.method} ${r.url}`;
      assert.ok(r.url.startsWith("/api/"), `${what}: non-public routes live under /api/`);
      const none = await api.call(r.method, path);
      assert.equal(none.status, 401, `${what} without a token`);
      if (r.method === "GET") isProblem(none, 401, "AVIARY_UNAUTHORIZED");
      const unknown = await api.call(r.method, path, { token: UNKNOWN_TOKEN });
      assert.equal(unknown.status, 401, `${what} with an unknown token`);
      for (const token of [viewer, ci, api.operatorToken]) {
        const ok = await readStatus(api.admin, r.method, path, token);
        assert.equal(ok, 200, `${what} with a valid token`);
      }
    }
  });

  it("public routes answer without a token", async () => {
    for (const key of PUBLIC) {
      const [method, path] = key.split(" ") as [string, string];
      assert.equal((await api.call(method, path)).status, 200, key);
    }
  });

  it("tells a caller who its token names", async () => {
    for (const [token, name, role] of [
      [viewer, "viewer", "read-only"],
      [ci, "ci", "operator"],
      [api.operatorToken, "operator", "operator"],
    ] as const) {
      const me = await api.call("GET", "/api/v1/whoami", { token });
      assert.equal(me.status, 200);
      assert.deepEqual(me.json, { name, role });
    }
    assert.equal((await api.call("GET", "/api/v1/whoami")).status, 401);
  });

  it("names the token's holder as the actor of a command", async () => {
    const paused = await api.call("POST", "/api/v1/services/shop/pause", { token: ci, body: {} });
    assert.equal(paused.status, 200, paused.text);
    const resumed = await api.call("POST", "/api/v1/services/shop/resume", {
      token: api.operatorToken,
      body: {},
    });
    assert.equal(resumed.status, 200, resumed.text);
    const history = await api.call("GET", "/api/v1/services/shop/history", { token: viewer });
    const actors = (history.json.events as Array<{ type: string; actor: string }>)
      .filter((e) => e.type === "paused" || e.type === "resumed")
      .map((e) => `${e.type} ${e.actor}`);
    assert.deepEqual(actors, ["paused operator:ci", "resumed operator:operator"]);
  });
});

describe("admin API with auth.anonymousRead", () => {
  let upstream: Upstream;
  let api: TestAdmin;

  before(async () => {
    upstream = await startUpstream("v1");
    api = await startAdmin({ spec: { ...spec(upstream.url), auth: { anonymousRead: true } } });
  });
  after(async () => {
    await api.close();
    await upstream.close();
  });

  it("lets every read through without a token, still refuses unknown tokens, and every write still needs the operator", async () => {
    const routes = registeredRoutes(api.aviary.admin).filter((r) => r.access !== "public");
    const state = await api.call("GET", "/api/v1/services");
    assert.equal(state.status, 200, "a read without a token");
    for (const r of routes) {
      const path = r.url
        .replace(":name", "shop")
        .replace(":id", "none")
        .replace(/:[A-Za-z]+/g, "x");
      const what = `${r.method} ${r.url}`;
      if (r.method === "GET" || r.method === "HEAD") {
        const query = r.url === "/api/v1/rollouts" ? "?service=shop" : "";
        const status = await readStatus(api.admin, r.method, `${path}${query}`, undefined);
        const expected = r.url.endsWith("/:id") ? 404 : 200;
        assert.equal(status, expected, `${what} without a token`);
        const unknown = await api.call(r.method, `${path}${query}`, { token: UNKNOWN_TOKEN });
        assert.equal(unknown.status, 401, `${what} with an unknown token`);
      } else {
        const none = await api.call(r.method, path, { body: {} });
        assert.equal(none.status, 401, `${what} without a token`);
        assert.match(none.json.detail, /needs an operator token/);
      }
    }
    assert.deepEqual((await api.call("GET", "/api/v1/whoami")).json, {
      name: "anonymous",
      role: "anonymous",
    });
    assert.equal(
      JSON.stringify((await api.call("GET", "/api/v1/services")).json),
      JSON.stringify(state.json),
    );
  });
});

/** The status of a read; a stream is cut off once its head arrived. */
async function readStatus(
  admin: string,
  method: string,
  path: string,
  token: string | undefined,
): Promise<number> {
  const controller = new AbortController();
  const res = await request(`${admin}${path}`, {
    method: method as "GET",
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    signal: controller.signal,
  });
  if (String(res.headers["content-type"]).startsWith("text/event-stream")) {
    controller.abort();
    await res.body.text().catch(() => undefined);
  } else await res.body.text();
  return res.statusCode;
}
