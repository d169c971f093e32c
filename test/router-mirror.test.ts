import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { request } from "undici";
import { startRouter, startUpstream, type TestRouter, type Upstream } from "./fixtures.js";

const waitFor = async (check: () => boolean, ms = 2_000) => {
  for (let waited = 0; !check() && waited < ms; waited += 10)
    await new Promise((r) => setTimeout(r, 10));
};

describe("mirroring", () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  async function setup(
    percent: number,
    canaryHandler?: Parameters<typeof startUpstream>[1],
    proxy = {},
  ) {
    const stable = await startUpstream("stable");
    const canary = await startUpstream("canary", canaryHandler);
    const router = await startRouter(
      [
        {
          name: "app",
          match: { pathPrefix: "/" },
          stable: { version: "v1", targets: [stable.url] },
          canary: { version: "v2", targets: [canary.url] },
          weight: 0,
          mirror: { percent, methods: ["GET", "POST"] },
        },
      ],
      { proxy },
    );
    cleanup.push(
      () => router.close(),
      () => stable.close(),
      () => canary.close(),
    );
    return { stable, canary, router };
  }

  it("copies requests and their bodies to the canary, answers from stable, and counts copies as mirror", async () => {
    const { stable, canary, router }: { stable: Upstream; canary: Upstream; router: TestRouter } =
      await setup(100);
    for (let i = 0; i < 10; i++) {
      const res = await request(`${router.url}/m${i}`, { method: "POST", body: `body-${i}` });
      assert.equal(((await res.body.json()) as { name: string }).name, "stable");
    }
    await waitFor(() => canary.received.length === 10);
    assert.equal(stable.received.length, 10);
    assert.equal(canary.received.length, 10);
    assert.ok(canary.received.every((r) => r.headers["x-aviary-mirror"] === "1"));
    assert.deepEqual(
      canary.received.map((r) => r.bodyBytes),
      stable.received.map((r) => r.bodyBytes),
    );
    const window = {
      service: "app",
      version: "v2",
      from: Date.now() - 10_000,
      to: Date.now() + 1000,
    };
    await waitFor(() => router.metrics.query({ ...window, role: "mirror" }).requests === 10);
    assert.equal(router.metrics.query({ ...window, role: "mirror" }).requests, 10);
    assert.equal(
      router.metrics.query(window).requests,
      0,
      "mirror copies are not live canary traffic",
    );
  });

  it("copies only safe methods unless told otherwise", async () => {
    const stable = await startUpstream("stable");
    const canary = await startUpstream("canary");
    const router = await startRouter([
      {
        name: "app",
        match: { pathPrefix: "/" },
        stable: { version: "v1", targets: [stable.url] },
        canary: { version: "v2", targets: [canary.url] },
        mirror: { percent: 100 },
      },
    ]);
    cleanup.push(
      () => router.close(),
      () => stable.close(),
      () => canary.close(),
    );
    for (const method of ["GET", "POST", "DELETE", "HEAD"]) {
      await (
        await request(`${router.url}/${method}`, {
          method,
          ...(method === "POST" ? { body: "x" } : {}),
        })
      ).body.dump();
    }
    await waitFor(() => canary.received.length >= 2);
    await waitFor(() => router.router.mirrorStats.inFlight === 0);
    assert.deepEqual(canary.received.map((r) => r.method).sort(), ["GET", "HEAD"]);
  });

  it("mirrors about the configured share", async () => {
    const { canary, router } = await setup(25);
    for (let i = 0; i < 400; i++) await (await request(`${router.url}/s${i}`)).body.dump();
    await waitFor(() => router.router.mirrorStats.inFlight === 0);
    // Binomial(400, 0.25): sd ≈ 8.7.
    assert.ok(
      canary.received.length > 60 && canary.received.length < 140,
      `mirrored ${canary.received.length}`,
    );
  });

  it("never delays the user's response for a slow canary, and drops copies past the concurrency bound", async () => {
    // The canary holds every copy until the test lets go: users must be answered meanwhile.
    const held: Array<() => void> = [];
    const { router } = await setup(100, (_req, res) => held.push(() => res.end("late")), {
      mirrorConcurrency: 2,
    });
    for (let i = 0; i < 6; i++) {
      const res = await request(`${router.url}/x`);
      assert.equal(((await res.body.json()) as { name: string }).name, "stable");
    }
    await waitFor(() => held.length === 2);
    assert.equal(held.length, 2);
    assert.equal(router.router.mirrorStats.inFlight, 2);
    assert.equal(router.router.mirrorStats.dropped, 4);
    for (const release of held) release();
    await waitFor(() => router.router.mirrorStats.inFlight === 0);
    assert.equal(router.router.mirrorStats.inFlight, 0);
  });

  it("does not copy requests whose body is over the limit", async () => {
    const { canary, router } = await setup(100, undefined, { mirrorMaxBodyBytes: 1000 });
    await (
      await request(`${router.url}/big`, { method: "POST", body: Buffer.alloc(5000) })
    ).body.dump();
    await (
      await request(`${router.url}/small`, { method: "POST", body: Buffer.alloc(500) })
    ).body.dump();
    await waitFor(() => canary.received.length >= 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      canary.received.map((r) => r.url),
      ["/small"],
    );
    assert.equal(router.router.mirrorStats.dropped, 1);
    assert.match(
      await router.metrics.metrics(),
      /aviary_mirror_requests_total\{outcome="dropped"\} 1/,
    );
  });
});
