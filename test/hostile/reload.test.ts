/**
 * Item 1 of the hardening issue: a reload or an apply is all or nothing, removing a service is a
 * supported change, and no unhandled rejection ends the process. Before, deleting a service
 * from the spec and sending SIGHUP killed `aviary serve` with an unhandled
 * AVIARY_UNKNOWN_SERVICE, and the same removal through POST /api/v1/apply answered 404 after
 * the router had already stopped serving the service.
 *
 * Everything goes through the compiled CLI and real HTTP: real upstreams behind the router, the
 * admin API, signals to the process. The fixture that spawns `aviary serve` fails this file if
 * any of its processes logs an unhandled rejection.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { request } from "undici";
import {
  AVIARY_BIN,
  type LogEntry,
  type ServeProcess,
  spawnServe,
  startUpstream,
  type Upstream,
} from "../fixtures.js";

const TOKEN = "reload-test-operator-token";
const AUTH = { authorization: `Bearer ${TOKEN}` };
/** An environment variable no test sets: a gate whose URL comes from it cannot be resolved. */
const MISSING_ENV = "AVIARY_TEST_GATE_URL_NEVER_SET";

interface Event {
  type: string;
  reason: string;
  rolloutId: string | null;
}

describe("reloads and applies: all or nothing, services can be removed", {
  timeout: 120_000,
}, () => {
  let shopV1: Upstream;
  let shopV2: Upstream;
  let web: Upstream;
  let dir: string;
  let serve: ServeProcess | undefined;
  let n = 0;

  before(async () => {
    shopV1 = await startUpstream("shop-v1");
    shopV2 = await startUpstream("shop-v2");
    web = await startUpstream("web-v1");
    dir = mkdtempSync(join(tmpdir(), "aviary-reload-"));
  });
  afterEach(async () => {
    if (serve !== undefined && serve.child.exitCode === null && serve.child.signalCode === null) {
      serve.child.kill("SIGKILL");
      await new Promise((r) => serve?.child.once("exit", r));
    }
    serve = undefined;
  });
  after(async () => {
    await shopV1.close();
    await shopV2.close();
    await web.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The spec text: shop (rolling out v2, held at a manual pause) and web, or some of them. */
  function spec(opts: { shop?: boolean; web?: boolean; shopGate?: boolean } = {}): string {
    const shop = `  - name: shop
    match: { pathPrefix: /shop }
    stable: { version: v1, targets: ["${shopV1.url}"] }
    canary: { version: v2, targets: ["${shopV2.url}"] }
    strategy:
      steps:
        - setWeight: 50
        - pause: {}
${opts.shopGate ? `      gates:\n        - { name: approve, type: confirm-rollout, urlFrom: { env: ${MISSING_ENV} } }\n` : ""}`;
    const webService = `  - name: web
    match: { pathPrefix: /web }
    stable: { version: v1, targets: ["${web.url}"] }
`;
    return `listen: 127.0.0.1:0
admin: 127.0.0.1:0
controller: { tick: 50ms }
services:
${opts.shop === false ? "" : shop}${opts.web === false ? "" : webService}`;
  }

  async function start(text: string, env: Record<string, string> = {}) {
    const file = join(dir, `aviary-${++n}.yaml`);
    writeFileSync(file, text);
    serve = await spawnServe(file, join(dir, `data-${n}`), { AVIARY_TOKEN: TOKEN, ...env });
    return { file, serve };
  }

  /** Which upstream answered a path through the router, or the router's own status and text. */
  async function probe(path: string): Promise<string> {
    const res = await request(`${(serve as ServeProcess).url}${path}`);
    if (res.headers["x-upstream"] !== undefined) {
      await res.body.dump();
      return String(res.headers["x-upstream"]);
    }
    return `${res.statusCode} ${(await res.body.text()).trim()}`;
  }

  /** What the data plane serves now: one probe per service path. */
  async function served(): Promise<{ shop: string; web: string }> {
    const shop = await probe("/shop/cart");
    return { shop: shop.startsWith("shop-") ? "shop" : shop, web: await probe("/web/") };
  }
  const BOTH = { shop: "shop", web: "web-v1" };
  const NOT_SERVED = "404 no service matches this request";

  async function api(method: "GET" | "POST", path: string, body?: unknown) {
    const res = await request(`${(serve as ServeProcess).admin}${path}`, {
      method,
      headers: { ...AUTH, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  }
  const listed = async () =>
    ((await api("GET", "/api/v1/services")).body.services as Array<{ name: string }>).map(
      (s) => s.name,
    );
  const history = async (name: string) =>
    (await api("GET", `/api/v1/services/${name}/history`)).body.events as Event[];
  const allEvents = async () => [...(await history("shop")), ...(await history("web"))].length;

  /** Sends SIGHUP and waits for the reload's outcome: the next `spec reloaded` or `refused` line. */
  async function hup(): Promise<LogEntry> {
    const s = serve as ServeProcess;
    const before = s.log.entries.length;
    s.child.kill("SIGHUP");
    const outcome = (e: LogEntry) =>
      s.log.entries.indexOf(e) >= before &&
      (e.msg === "spec reloaded" ||
        e.msg === "spec reload refused; still serving the previous spec");
    return s.log.waitFor(outcome, "saying how the reload went");
  }

  const alive = () => serve?.child.exitCode === null && serve.child.signalCode === null;

  it("SIGHUP without a service: its rollout ends, its routes go, its history stays; the process and the other service go on; re-adding it starts it afresh", async () => {
    const { file } = await start(spec());
    assert.deepEqual(await served(), BOTH);
    const rollout = (await api("GET", "/api/v1/services/shop")).body.rollout as {
      id: string;
      phase: string;
    };
    assert.equal(rollout.phase, "Paused", "v2 at 50 %, held at the manual pause");

    writeFileSync(file, spec({ shop: false }));
    const outcome = await hup();
    assert.equal(outcome.msg, "spec reloaded", JSON.stringify(outcome));
    assert.deepEqual(outcome.changes, [
      "shop: shop is no longer in the spec: its rollout of v2 is aborted, the router stops serving it (its history stays)",
    ]);
    assert.ok(alive(), "the process is still running");
    assert.deepEqual(await served(), { shop: NOT_SERVED, web: "web-v1" });

    assert.deepEqual(await listed(), ["web"], "a removed service is no longer listed");
    const gone = await api("GET", "/api/v1/services/shop");
    assert.equal(gone.status, 404);
    assert.equal(gone.body.code, "AVIARY_UNKNOWN_SERVICE");
    assert.match(String(gone.body.detail), /shop was removed from the spec; its history stays/);
    const events = await history("shop");
    assert.deepEqual(events.map((e) => e.type).slice(-2), ["aborted", "service.removed"]);
    const aborted = events.at(-2) as Event;
    assert.equal(aborted.rolloutId, rollout.id);
    assert.match(aborted.reason, /aborted by spec: shop was removed from the spec/);

    writeFileSync(file, spec());
    const back = await hup();
    assert.equal(back.msg, "spec reloaded", JSON.stringify(back));
    assert.deepEqual(await served(), BOTH);
    assert.deepEqual(await listed(), ["shop", "web"]);
    const again = await history("shop");
    assert.deepEqual(
      again.slice(0, events.length),
      events,
      "the history continues where it stopped",
    );
    assert.deepEqual(
      again.slice(events.length).map((e) => e.type),
      ["service.created", "rollout.started", "weight.set", "step.started"],
    );
    const fresh = (await api("GET", "/api/v1/services/shop")).body.rollout as { id: string };
    assert.notEqual(fresh.id, rollout.id, "a new rollout");
  });

  it("SIGHUP with a file it cannot apply logs the reason at error and keeps serving the previous spec: broken YAML, an empty file, a gate secret that is missing", async () => {
    const { file } = await start(spec());
    const eventsBefore = await allEvents();
    const cases: Array<[string, string, RegExp]> = [
      ["broken YAML", "services: [\n  - name: {", /YAML/],
      ["an empty file", "", /empty/],
      ["a file of comments only", "# being rewritten\n\n", /empty|no spec|nothing/i],
      [
        "a gate whose URL is in an unset variable, alongside a removal",
        spec({ web: false, shopGate: true }),
        new RegExp(
          `service shop: gate approve.urlFrom: environment variable ${MISSING_ENV} is not set`,
        ),
      ],
    ];
    for (const [what, text, reason] of cases) {
      writeFileSync(file, text);
      const outcome = await hup();
      assert.equal(
        outcome.msg,
        "spec reload refused; still serving the previous spec",
        `${what}: ${JSON.stringify(outcome)}`,
      );
      assert.equal(outcome.level, 50, `${what}: logged at error`);
      assert.match(String(outcome.reason), reason, what);
      assert.ok(alive(), `${what}: the process is still running`);
      assert.deepEqual(await served(), BOTH, `${what}: both services still served`);
    }
    assert.deepEqual(await listed(), ["shop", "web"]);
    assert.equal(await allEvents(), eventsBefore, "nothing was written to the history");
  });

  it("SIGHUPs in quick succession do not interleave: each reload runs after the last one ended", async () => {
    const { file } = await start(spec());
    const s = serve as ServeProcess;
    writeFileSync(file, spec({ web: false }));
    const before = s.log.entries.length;
    for (let i = 0; i < 5; i++) s.child.kill("SIGHUP");
    await s.log.waitFor(
      (e) => s.log.entries.indexOf(e) >= before && e.msg === "spec reloaded",
      "spec reloaded",
    );
    // A last one, to know every earlier reload has ended (they run one at a time). The file is
    // not written again: a reload still queued could read it half-written and rightly refuse it.
    const last = await hup();
    assert.equal(last.msg, "spec reloaded");
    assert.deepEqual(last.changes, [], "nothing left to change");
    const outcomes = s.log.entries
      .slice(before)
      .filter((e) => e.msg === "spec reloaded" || String(e.msg).startsWith("spec reload refused"));
    assert.ok(
      outcomes.every((e) => e.msg === "spec reloaded"),
      JSON.stringify(outcomes),
    );
    const removals = outcomes
      .flatMap((e) => e.changes as string[])
      .filter((c) => c.startsWith("web:"));
    assert.equal(removals.length, 1, `web was removed once: ${JSON.stringify(outcomes)}`);
    assert.deepEqual(
      (await history("web")).map((e) => e.type),
      ["service.created", "service.removed"],
    );
    assert.ok(alive());
    assert.deepEqual(await served(), { shop: "shop", web: NOT_SERVED });
  });

  it("POST /api/v1/apply removes a service all the way, and a refused apply leaves everything as it was", async () => {
    await start(spec());
    const eventsBefore = await allEvents();

    const refused = await api("POST", "/api/v1/apply", {
      spec: spec({ web: false, shopGate: true }),
      file: "next.yaml",
    });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.equal(refused.body.code, "AVIARY_SPEC_INVALID");
    assert.match(String(refused.body.detail), new RegExp(`${MISSING_ENV} is not set`));
    assert.deepEqual(await served(), BOTH, "the router serves exactly what it served before");
    assert.deepEqual(await listed(), ["shop", "web"]);
    assert.equal(await allEvents(), eventsBefore, "nothing was written to the history");

    const dry = await api("POST", "/api/v1/apply", { spec: spec({ web: false }), dryRun: true });
    assert.equal(dry.status, 200);
    assert.deepEqual(await served(), BOTH, "a dry run changes nothing");

    const applied = await api("POST", "/api/v1/apply", { spec: spec({ web: false }) });
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    assert.deepEqual(applied.body.changes, dry.body.changes, "what the dry run said");
    assert.deepEqual(
      (applied.body.changes as Array<{ kind: string; service: string }>).map((c) => [
        c.kind,
        c.service,
      ]),
      [["remove", "web"]],
    );
    assert.deepEqual(await served(), { shop: "shop", web: NOT_SERVED });
    assert.deepEqual(await listed(), ["shop"]);
    assert.deepEqual(
      (await history("web")).map((e) => e.type),
      ["service.created", "service.removed"],
    );
    assert.equal((await api("GET", "/api/v1/services/web/analysis")).status, 404);
    assert.equal((await api("GET", "/api/v1/services/nothing/history")).status, 404);
    assert.ok(alive());
  });

  it("aviary apply -f removes a service, and refuses a spec the server cannot apply without changing anything", async () => {
    const { serve: s } = await start(spec());
    const cli = (file: string) =>
      spawnSync(process.execPath, [AVIARY_BIN, "apply", "-f", file, "--server", s.admin], {
        encoding: "utf8",
        env: { ...process.env, AVIARY_TOKEN: TOKEN },
      });

    const bad = join(dir, "cli-refused.yaml");
    writeFileSync(bad, spec({ web: false, shopGate: true }));
    const refused = cli(bad);
    assert.notEqual(refused.status, 0, refused.stdout + refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(
        `service shop: gate approve.urlFrom: environment variable ${MISSING_ENV} is not set`,
      ),
    );
    assert.deepEqual(await served(), BOTH);

    const good = join(dir, "cli-applied.yaml");
    writeFileSync(good, spec({ shop: false }));
    const applied = cli(good);
    assert.equal(applied.status, 0, applied.stdout + applied.stderr);
    assert.match(
      applied.stdout,
      /~ shop: shop is no longer in the spec: its rollout of v2 is aborted/,
    );
    assert.match(applied.stdout, /applied/);
    assert.deepEqual(await served(), { shop: NOT_SERVED, web: "web-v1" });
    assert.equal((await history("shop")).at(-1)?.type, "service.removed");
  });

  it("an unhandled rejection is logged at error and the process keeps serving", async () => {
    const file = join(dir, "fault.yaml");
    writeFileSync(file, spec());
    serve = await spawnServe(
      file,
      join(dir, "data-fault"),
      { AVIARY_TOKEN: TOKEN, AVIARY_FAULT_UNHANDLED_REJECTION: "1" },
      { escapedAllowed: true },
    );
    const line = await serve.log.waitFor(
      (e) => e.msg === "unhandled rejection",
      "unhandled rejection",
    );
    assert.equal(line.level, 50);
    assert.match(
      JSON.stringify(line.err),
      /deliberate rejection \(AVIARY_FAULT_UNHANDLED_REJECTION\)/,
    );
    assert.deepEqual(await served(), BOTH);
    assert.deepEqual(await listed(), ["shop", "web"]);
    assert.ok(alive());
  });

  it("an uncaught exception is logged at fatal and the process exits 1; a restart serves again from the store", async () => {
    const file = join(dir, "fault-exception.yaml");
    writeFileSync(file, spec());
    const dataDir = join(dir, "data-exception");
    serve = await spawnServe(
      file,
      dataDir,
      { AVIARY_TOKEN: TOKEN, AVIARY_FAULT_UNCAUGHT_EXCEPTION: "1" },
      { escapedAllowed: true },
    );
    const child = serve.child;
    const exited = new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.once("exit", (code) => resolve(code));
    });
    const line = await serve.log.waitFor(
      (e) => e.msg === "uncaught exception; exiting",
      "uncaught exception",
    );
    assert.equal(line.level, 60);
    assert.match(
      JSON.stringify(line.err),
      /deliberate exception \(AVIARY_FAULT_UNCAUGHT_EXCEPTION\)/,
    );
    assert.equal(await exited, 1);

    serve = await spawnServe(file, dataDir, { AVIARY_TOKEN: TOKEN });
    assert.deepEqual(await served(), BOTH);
    assert.equal(
      ((await api("GET", "/api/v1/services/shop")).body.rollout as { phase: string }).phase,
      "Paused",
      "the rollout resumed where it stood",
    );
  });
});
