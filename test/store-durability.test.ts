/**
 * How durable a started server's SQLite commits are, by who serves the traffic: FULL for an
 * external engine (a transition it was told must survive a power cut), NORMAL for the embedded
 * router (a power cut restarts it with the store). See `sqliteSynchronous` in `src/server.ts`.
 */

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Store } from "../src/store/store.js";
import { startAdmin, type TestAdmin } from "./admin-fixtures.js";
import { type HaproxyEngine, startHaproxy } from "./engines/haproxy.js";

const services = [
  {
    name: "shop",
    match: { pathPrefix: "/shop" },
    stable: { version: "v1", targets: ["http://127.0.0.1:9"] },
  },
];

/** The synchronous setting the store's own connection runs with. */
function synchronousOf(store: Store): unknown {
  return (store as Store & { synchronous?: unknown }).synchronous;
}

describe("SQLite durability of a started server", () => {
  const open: Array<TestAdmin | HaproxyEngine> = [];
  after(async () => {
    for (const o of open.reverse()) await o.close();
  });

  it("commits with synchronous=NORMAL when the embedded router serves the traffic", async () => {
    const api = await startAdmin({ spec: { services } });
    open.push(api);
    assert.equal(synchronousOf(api.aviary.store), "normal");
  });

  it("commits with synchronous=FULL when an external engine serves the traffic", async () => {
    const engine = await startHaproxy({ services });
    open.push(engine);
    const api = await startAdmin({ spec: { services, dataplane: engine.spec.dataplane } });
    open.push(api);
    assert.equal(synchronousOf(api.aviary.store), "full");
  });
});
