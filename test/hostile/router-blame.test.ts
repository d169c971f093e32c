/**
 * Who is to blame. A request the router cannot forward as sent is the client's fault: Aviary
 * answers it (400, 405, 505), counts it in `aviary_router_rejected_requests_total`, and never in
 * the version's metrics or against a target. Else an anonymous client could eject a canary
 * target, poison the canary's error rate and abort its rollout with a few dozen requests.
 */

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { request } from "undici";
import type { TestAdmin } from "../admin-fixtures.js";
import { startAdmin } from "../admin-fixtures.js";
import { rawExchange, startRouter, startUpstream, type TestRouter } from "../fixtures.js";

const DOUBLE_HOST = "GET /shop/x HTTP/1.1\r\nHost: app\r\nHost: evil\r\n\r\n";

/** The value of one sample of a Prometheus text exposition, 0 when absent. */
export function sample(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
}

function failuresOf(router: TestRouter, version: string) {
  return router.metrics.query({
    service: "app",
    version,
    from: Date.now() - 60_000,
    to: Date.now() + 1_000,
  });
}

describe("a bad request is the client's fault, not the target's", () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it("answers 400 to a second Host, counts it as rejected, and blames no target", async () => {
    const up = await startUpstream("v1");
    cleanup.push(() => up.close());
    const router = await startRouter([
      {
        name: "app",
        match: { pathPrefix: "/" },
        stable: { version: "v1", targets: [up.url] },
        // One failure would eject the only target.
        outlierDetection: { consecutiveFailures: 1 },
      },
    ]);
    cleanup.push(() => router.close());

    for (const bytes of [
      DOUBLE_HOST,
      "GET /x HTTP/1.1\r\nHost: app\r\nHost: app\r\n\r\n",
      "GET /x HTTP/1.1\r\nHost: app\r\nhost: \r\n\r\n",
      "POST /x HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 3\r\n\r\nabc",
    ]) {
      const out = await rawExchange(router.port, bytes);
      assert.equal(statusOf(out), 400, out);
      assert.match(out, /\r\n\r\nbad request\n$/);
    }
    assert.equal(up.received.length, 0, "nothing reached the upstream");
    const m = failuresOf(router, "v1");
    assert.equal(m.requests, 0, "not a request of the version");
    assert.deepEqual(m.failures, { connect: 0, timeout: 0, reset: 0 });
    const target = router.router.plan.services[0]?.stable.targets.targets[0];
    assert.equal(target?.isAvailable(Date.now()), true, "the target was not ejected");
    assert.equal(target?.ejections, 0);
    const text = await router.metrics.prometheus.metrics();
    assert.equal(
      sample(text, "aviary_router_rejected_requests_total", '{reason="bad_request"}'),
      4,
    );

    // And the target still serves.
    const res = await request(`${router.url}/ok`);
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  });

  it("refuses TRACE and CONNECT with 405 and Allow, and HTTP/2.0 or HTTP/0.9 request lines with 505", async () => {
    const up = await startUpstream("v1");
    cleanup.push(() => up.close());
    const router = await startRouter([
      { name: "app", match: { pathPrefix: "/" }, stable: { version: "v1", targets: [up.url] } },
    ]);
    cleanup.push(() => router.close());

    const trace = await rawExchange(router.port, "TRACE /x HTTP/1.1\r\nHost: app\r\n\r\n");
    assert.equal(statusOf(trace), 405, trace);
    assert.match(trace, /\r\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n/i);
    const connect = await rawExchange(router.port, "CONNECT app:443 HTTP/1.1\r\nHost: app\r\n\r\n");
    assert.equal(statusOf(connect), 405, connect);
    assert.match(connect, /\r\nAllow: GET/i);
    for (const version of ["HTTP/2.0", "HTTP/0.9"]) {
      const out = await rawExchange(router.port, `GET /x ${version}\r\nHost: app\r\n\r\n`);
      assert.equal(statusOf(out), 505, `${version}: ${out}`);
    }
    // The preface of HTTP/2 over cleartext: Node's parser refuses it, counted as malformed.
    const pri = await rawExchange(router.port, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert.equal(statusOf(pri), 400, pri);

    assert.equal(up.received.length, 0, "nothing reached the upstream");
    const text = await router.metrics.prometheus.metrics();
    assert.equal(sample(text, "aviary_router_rejected_requests_total", '{reason="method"}'), 2);
    assert.equal(
      sample(text, "aviary_router_rejected_requests_total", '{reason="http_version"}'),
      2,
    );
    assert.equal(sample(text, "aviary_router_rejected_requests_total", '{reason="malformed"}'), 1);
    assert.deepEqual(failuresOf(router, "v1").failures, { connect: 0, timeout: 0, reset: 0 });
  });
});

describe("double-Host requests during a rollout (end to end)", () => {
  let api: TestAdmin;
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    await api?.close();
    for (const c of closers) await c();
  });

  it("neither eject the canary, nor poison its error rate, nor abort the rollout", async () => {
    const stable = await startUpstream("v1");
    const canary = await startUpstream("v2");
    closers.push(
      () => stable.close(),
      () => canary.close(),
    );
    api = await startAdmin({
      spec: {
        controller: { tick: "50ms" },
        services: [
          {
            name: "shop",
            match: { pathPrefix: "/shop" },
            stable: { version: "v1", targets: [stable.url] },
            outlierDetection: { consecutiveFailures: 3 },
            strategy: { steps: [{ setWeight: 50 }, { pause: {} }] },
          },
        ],
      },
    });
    const deployed = await api.call("POST", "/api/v1/services/shop/deploy", {
      token: api.operatorToken,
      body: { version: "v2", targets: [canary.url] },
    });
    assert.equal(deployed.status, 201, deployed.text);
    const id = deployed.json.rollout.id as string;
    const weightOf = async () =>
      (await api.call("GET", `/api/v1/rollouts/${id}`, { token: api.operatorToken })).json.rollout;
    // The first step puts half the traffic on the canary.
    for (let i = 0; i < 200 && (await weightOf()).traffic.weight !== 50; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal((await weightOf()).traffic.weight, 50);

    const port = api.aviary.listen.port;
    const answers = await Promise.all(
      Array.from({ length: 48 }, () => rawExchange(port, DOUBLE_HOST)),
    );
    // Several controller ticks: without the fix the rollout aborts on the first one after the
    // canary's target is ejected.
    await new Promise((r) => setTimeout(r, 500));

    const rollout = await weightOf();
    assert.notEqual(rollout.phase, "Aborted", rollout.reason);
    assert.equal(rollout.traffic.weight, 50);
    const now = Date.now();
    const summary = api.aviary.metrics.query({
      service: "shop",
      version: "v2",
      from: now - 60_000,
      to: now + 1_000,
    });
    assert.deepEqual(summary.failures, { connect: 0, timeout: 0, reset: 0 });
    assert.equal(summary.errors, 0);
    const svc = api.aviary.router.plan.services.find((s) => s.name === "shop");
    for (const t of [
      ...(svc?.canary?.targets.targets ?? []),
      ...(svc?.stable.targets.targets ?? []),
    ]) {
      assert.equal(t.isAvailable(now), true, `${t.origin} was ejected`);
      assert.equal(t.ejections, 0);
    }
    assert.deepEqual(
      [...new Set(answers.map(statusOf))],
      [400],
      "every double-Host request answered 400 by Aviary",
    );
    assert.equal(canary.received.length + stable.received.length, 0);
    const metrics = await request(`${api.admin}/metrics`);
    const text = await metrics.body.text();
    assert.equal(
      sample(text, "aviary_router_rejected_requests_total", '{reason="bad_request"}'),
      48,
    );

    // The canary still serves its share.
    for (let i = 0; i < 20; i++) {
      const res = await request(`${api.url}/shop/${i}`);
      await res.body.dump();
      assert.equal(res.statusCode, 200);
    }
    assert.ok(canary.received.length > 0, "the canary still takes traffic");
  });
});
