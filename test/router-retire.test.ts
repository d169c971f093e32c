import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { request } from "undici";
import { ManualClock } from "../src/util/clock.js";
import { startRouter, startUpstream } from "./fixtures.js";

describe("metrics of versions the router no longer serves", () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it("stay queryable for the metrics window, then are dropped; a version served again keeps them", async () => {
    const clock = new ManualClock(Date.now());
    const v1 = await startUpstream("v1");
    const v2 = await startUpstream("v2");
    const svc = (canary: boolean) => [
      {
        name: "app",
        match: { pathPrefix: "/" },
        stable: { version: "v1", targets: [v1.url] },
        ...(canary ? { canary: { version: "v2", targets: [v2.url] }, weight: 100 } : {}),
      },
    ];
    const router = await startRouter(svc(true), { clock });
    cleanup.push(
      () => router.close(),
      () => v1.close(),
      () => v2.close(),
    );
    for (let i = 0; i < 5; i++) await (await request(`${router.url}/`)).body.dump();
    const v2Requests = () =>
      router.metrics.query({
        service: "app",
        version: "v2",
        from: clock.now() - 60_000,
        to: clock.now() + 1_000,
      }).requests;
    assert.equal(v2Requests(), 5);

    router.apply(svc(false));
    await (await request(`${router.url}/`)).body.dump();
    clock.advance(14 * 60_000);
    assert.ok(
      router.metrics.series().some((s) => s.version === "v2"),
      "still there within the window",
    );
    router.apply(svc(true));
    router.apply(svc(false));
    clock.advance(14 * 60_000);
    assert.ok(
      router.metrics.series().some((s) => s.version === "v2"),
      "served again: its clock restarted",
    );
    clock.advance(2 * 60_000);
    assert.ok(!router.metrics.series().some((s) => s.version === "v2"), "dropped after the window");
    assert.ok(
      router.metrics.series().some((s) => s.version === "v1"),
      "the version still served stays",
    );
  });
});
