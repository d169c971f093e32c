import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CONNECTION_CEILING,
  defaultMaxConnections,
  FD_RESERVE,
  openFilesSoftLimit,
} from "./connection-cap.js";

describe("the router's default connection cap", () => {
  it("is half of what the reserve leaves, between 64 and the ceiling", () => {
    assert.equal(defaultMaxConnections(20_000), Math.floor((20_000 - FD_RESERVE) / 2));
    assert.equal(defaultMaxConnections(1_024), 384);
    assert.equal(defaultMaxConnections(1_048_576), CONNECTION_CEILING);
    assert.equal(defaultMaxConnections(256), 64, "never below the floor");
  });

  it("is the ceiling when the limit is unknown or unlimited", () => {
    assert.equal(defaultMaxConnections(undefined), CONNECTION_CEILING);
    assert.equal(defaultMaxConnections(Number.POSITIVE_INFINITY), CONNECTION_CEILING);
  });

  it("always leaves the reserve free for the admin API, the store and the pools", () => {
    for (const limit of [1_024, 4_096, 20_000, 65_536]) {
      const cap = defaultMaxConnections(limit);
      assert.ok(2 * cap + FD_RESERVE <= limit, `limit ${limit}: cap ${cap}`);
    }
  });

  it("reads this process's soft limit (where the platform tells)", () => {
    const limit = openFilesSoftLimit();
    if (process.platform === "linux") assert.ok(limit === undefined || limit > 0);
  });
});
