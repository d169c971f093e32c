import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Spec } from "../spec/schema.js";
import { loadState, STATE_FILE, saveState } from "./disk-state.js";
import { checkFleetState, composeFleetState, type FleetState, mergeNewer } from "./state.js";

const spec = Spec.parse({
  services: [
    {
      name: "shop",
      match: { pathPrefix: "/shop" },
      stable: { version: "v1", targets: ["http://127.0.0.1:9"] },
      strategy: { steps: [{ setWeight: 10 }] },
    },
  ],
});
const traffic = {
  stable: { version: "v1", targets: ["http://127.0.0.1:9"] },
  canary: { version: "v2", targets: ["http://127.0.0.1:10"] },
  weight: 10,
  headerRoutes: [],
  mirror: null,
};

function state(specRevision: number, revision: number, weight = 10): FleetState {
  return composeFleetState(
    { services: spec.services, proxy: spec.proxy, metricsWindowMs: 60_000 },
    specRevision,
    new Map([["shop", { traffic: { ...traffic, weight }, revision }]]),
  );
}

describe("fleet state", () => {
  it("drops strategies and checks what it receives with the spec's schema", () => {
    const s = state(1, 3);
    assert.equal("strategy" in (s.services[0]?.spec ?? {}), false);
    assert.equal(checkFleetState(JSON.parse(JSON.stringify(s)), "here").composed[0]?.weight, 10);
    const bad = JSON.parse(JSON.stringify(s));
    bad.services[0].traffic.canary.targets = ["ftp://nope"];
    assert.throws(
      () => checkFleetState(bad, "from cp"),
      /^FleetStateError: from cp: services\.0\.canary/,
    );
    assert.throws(() => checkFleetState({ specRevision: -1 }, "from cp"), /from cp: /);
  });

  it("never goes back: an older spec revision is refused, an older service revision kept", () => {
    assert.equal(mergeNewer(state(2, 5), state(1, 9)), undefined);
    assert.equal(mergeNewer(state(2, 5), state(2, 4)), undefined);
    assert.equal(mergeNewer(state(2, 5), state(2, 6))?.services[0]?.revision, 6);
    assert.equal(
      mergeNewer(state(2, 5), state(3, 1))?.services[0]?.revision,
      1,
      "a new spec resets",
    );
  });

  it("saves atomically and loads what it saved; a broken file is named", () => {
    const dir = mkdtempSync(join(tmpdir(), "aviary-fleet-disk-"));
    try {
      assert.equal(loadState(dir), undefined);
      saveState(dir, { receivedAt: 5, from: "http://cp", state: state(1, 2, 30) });
      assert.deepEqual(readdirSync(dir), [STATE_FILE], "no temporary file left");
      assert.equal(loadState(dir)?.checked.composed[0]?.weight, 30);
      writeFileSync(join(dir, STATE_FILE), "{ half");
      assert.throws(() => loadState(dir), new RegExp(`${STATE_FILE}: not JSON`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
