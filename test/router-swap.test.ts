import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Pool } from "undici";
import { startRouter, startUpstream } from "./fixtures.js";

/** Keeps `concurrency` requests in flight until `stop` resolves; counts outcomes. */
async function load(
  url: string,
  concurrency: number,
  stop: Promise<void>,
  progress: { done: number },
) {
  const pool = new Pool(url, { connections: concurrency });
  const counts = { ok: 0, failed: 0, byVersion: new Map<string, number>(), errors: [] as string[] };
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  let n = 0;
  const worker = async () => {
    while (!stopped) {
      const id = n++;
      try {
        const res = await pool.request({
          path: `/app/${id}`,
          method: "GET",
          headers: { "x-user-id": `u${id % 5000}` },
        });
        const body = (await res.body.json()) as { name: string };
        if (res.statusCode === 200) {
          counts.ok++;
          counts.byVersion.set(body.name, (counts.byVersion.get(body.name) ?? 0) + 1);
        } else {
          counts.failed++;
          counts.errors.push(`status ${res.statusCode}`);
        }
      } catch (err) {
        counts.failed++;
        counts.errors.push(String(err));
      }
      progress.done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await pool.close();
  return counts;
}

describe("configuration changes under load", () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it("sweeps the weight 0 → 100 → 0 and swaps canary targets without failing a request", async () => {
    const stable = await startUpstream("stable");
    const canaryA = await startUpstream("canary-a");
    const canaryB = await startUpstream("canary-b");
    cleanup.push(
      () => stable.close(),
      () => canaryA.close(),
      () => canaryB.close(),
    );
    const svc = (weight: number, canaryUrl: string) => [
      {
        name: "app",
        match: { pathPrefix: "/app" },
        stable: { version: "v1", targets: [stable.url] },
        canary: { version: "v2", targets: [canaryUrl] },
        weight,
        stickiness: { header: "x-user-id" },
      },
    ];
    const router = await startRouter(svc(0, canaryA.url));
    cleanup.push(() => router.close());

    let finish!: () => void;
    const stop = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const progress = { done: 0 };
    const running = load(router.url, 32, stop, progress);
    // 0 → 100 → 0 in 1-point steps, alternating the canary's target set on every step, so
    // pools are retired while requests on them are still in flight.
    const weights = [
      ...Array.from({ length: 101 }, (_, i) => i),
      ...Array.from({ length: 100 }, (_, i) => 99 - i),
    ];
    for (const [i, weight] of weights.entries()) {
      router.apply(svc(weight, i % 2 === 0 ? canaryA.url : canaryB.url));
      // Let at least ten requests complete on every configuration before the next change.
      const target = progress.done + 10;
      while (progress.done < target) await new Promise((r) => setImmediate(r));
    }
    finish();
    const counts = await running;
    assert.deepEqual(counts.errors.slice(0, 5), []);
    assert.equal(counts.failed, 0);
    assert.ok(counts.ok >= weights.length * 10, `only ${counts.ok} requests completed`);
    assert.ok(
      (counts.byVersion.get("canary-a") ?? 0) > 0 && (counts.byVersion.get("canary-b") ?? 0) > 0,
    );
    assert.ok((counts.byVersion.get("stable") ?? 0) > 0);
  });

  it("drains in-flight requests on shutdown instead of cutting them", async () => {
    const held: Array<() => void> = [];
    const slow = await startUpstream("slow", (_req, res) => held.push(() => res.end("done")));
    cleanup.push(() => slow.close());
    const router = await startRouter([
      { name: "app", match: { pathPrefix: "/" }, stable: { version: "v1", targets: [slow.url] } },
    ]);
    const pool = new Pool(router.url);
    const pending = Array.from({ length: 5 }, () => pool.request({ path: "/", method: "GET" }));
    for (let i = 0; i < 200 && held.length < 5; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(held.length, 5);
    const closing = router.close();
    for (const release of held) release();
    const responses = await Promise.all(pending);
    for (const res of responses) {
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers.connection, "close");
      assert.equal(await res.body.text(), "done");
    }
    await closing;
    await pool.close();
    assert.equal(router.router.inFlight, 0);
  });
});
