import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { request } from "undici";
import { ConversionLog, startStatsServer } from "./conversions.js";

describe("the demo shop's conversions", () => {
  it("counts sessions and orders per version in the whole seconds of a window", () => {
    const log = new ConversionLog();
    const t = 1_700_000_000_000;
    log.record("v1", true, t);
    log.record("v1", false, t + 500);
    log.record("v1", true, t + 1_000);
    log.record("v2", false, t + 1_000);
    assert.deepEqual(log.counts("v1", t, t + 1_000), { sessions: 2, orders: 1 });
    assert.deepEqual(log.counts("v1", t, t + 2_000), { sessions: 3, orders: 2 });
    assert.deepEqual(log.counts("v2", t, t + 2_000), { sessions: 1, orders: 0 });
    assert.deepEqual(log.counts("v9", t, t + 2_000), { sessions: 0, orders: 0 });
  });

  it("answers the web provider's counts mode, and 400 to anything else", async () => {
    const log = new ConversionLog();
    const now = Date.now();
    log.record("v2", true, now);
    const stats = await startStatsServer(log);
    try {
      const sec = Math.floor(now / 1000) * 1000;
      const ok = await request(`${stats.url}/stats/v2?from=${sec}&to=${sec + 1000}`);
      assert.deepEqual(await ok.body.json(), { sessions: 1, orders: 1 });
      const bad = await request(`${stats.url}/stats/v2?from=x`);
      assert.equal(bad.statusCode, 400);
      await bad.body.dump();
    } finally {
      await stats.close();
    }
  });
});
