import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { aMeasurement, anEvent, aRollout, aRun } from "../store/conformance-fixtures.js";
import { openSqliteStore } from "../store/sqlite/sqlite-store.js";
import { systemClock } from "../util/clock.js";
import { createLogger } from "../util/log.js";
import { EventHub, type HubMessage } from "./hub.js";
import { StoreTail } from "./tail.js";

const dir = mkdtempSync(join(tmpdir(), "aviary-tail-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const log = createLogger("silent");

async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("store tail", () => {
  it("publishes what another connection commits, each event once and in order, none from before it started", async () => {
    const file = join(dir, "tail.db");
    const writer = openSqliteStore(file);
    const reader = openSqliteStore(file);
    await writer.putRollout(aRollout());
    await writer.appendEvent(anEvent({ reason: "before the tail started" }));

    const hub = new EventHub();
    const seen: HubMessage[] = [];
    hub.subscribe((m) => seen.push(m));
    const tail = new StoreTail({ store: reader, hub, clock: systemClock, log, pollMs: 50 });
    await tail.start();

    // Concurrent commits while the tail reads, and pokes from every side.
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 1_200; i++) {
      writes.push(writer.appendEvent(anEvent({ reason: `event ${i}` })));
      if (i % 97 === 0) tail.poke();
    }
    await writer.putAnalysisRun(aRun());
    await writer.appendMeasurement(aMeasurement());
    await Promise.all(writes);
    await until(
      () =>
        seen.filter((m) => m.kind === "event").length >= 1_200 &&
        seen.some((m) => m.kind === "measurement"),
      10_000,
      "every event",
    );
    await new Promise((r) => setTimeout(r, 150));
    await tail.settled();
    const events = seen.flatMap((m) => (m.kind === "event" ? [m.event] : []));
    assert.equal(events.length, 1_200, "each once, none from before the start");
    assert.deepEqual(
      events.map((e) => e.reason),
      Array.from({ length: 1_200 }, (_, i) => `event ${i}`),
    );
    for (let i = 1; i < events.length; i++)
      assert.ok((events[i]?.seq ?? 0) > (events[i - 1]?.seq ?? 0), "seq order");
    const measurements = seen.filter((m) => m.kind === "measurement");
    assert.equal(measurements.length, 1);
    const m = measurements[0];
    assert.ok(m?.kind === "measurement");
    assert.equal(m.rolloutId, aRun().rolloutId);
    assert.equal(m.service, aRun().service);
    await tail.close();
    await writer.close();
    await reader.close();
  });
});
