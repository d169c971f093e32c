import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { overviewHash, parseRoute, serviceHash } from "./route.js";

describe("routes", () => {
  it("reads the overview with its filters, an unknown filter as all", () => {
    assert.deepEqual(parseRoute(""), { page: "overview", q: "", phase: "all" });
    assert.deepEqual(parseRoute("#/"), { page: "overview", q: "", phase: "all" });
    assert.deepEqual(parseRoute("#/?q=shop%20v2&phase=waiting"), {
      page: "overview",
      q: "shop v2",
      phase: "waiting",
    });
    assert.deepEqual(parseRoute("#/?phase=bogus"), { page: "overview", q: "", phase: "all" });
  });

  it("reads a service page, names decoded", () => {
    assert.deepEqual(parseRoute("#/services/shop"), { page: "service", name: "shop" });
    assert.deepEqual(parseRoute("#/services/a.b-c/"), { page: "service", name: "a.b-c" });
    assert.deepEqual(parseRoute("#/services/%E0%A4%A"), {
      page: "not-found",
      hash: "#/services/%E0%A4%A",
    });
    assert.deepEqual(parseRoute("#/elsewhere"), { page: "not-found", hash: "#/elsewhere" });
  });

  it("writes what it reads", () => {
    assert.equal(overviewHash(), "#/");
    assert.equal(overviewHash("shop v2", "paused"), "#/?q=shop+v2&phase=paused");
    assert.deepEqual(parseRoute(overviewHash("shop v2", "paused")), {
      page: "overview",
      q: "shop v2",
      phase: "paused",
    });
    assert.equal(serviceHash("a b"), "#/services/a%20b");
    assert.deepEqual(parseRoute(serviceHash("a/b")), { page: "service", name: "a/b" });
  });
});
