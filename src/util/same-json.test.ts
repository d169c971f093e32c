import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canonicalJson, sameJson } from "./same-json.js";

describe("sameJson", () => {
  it("ignores key order at every depth, as jsonb reorders keys", () => {
    const built = {
      stable: { version: "v1", weight: 100 },
      canary: null,
      routes: [{ a: 1, b: 2 }],
    };
    const stored = {
      canary: null,
      routes: [{ b: 2, a: 1 }],
      stable: { weight: 100, version: "v1" },
    };
    assert.equal(JSON.stringify(built) === JSON.stringify(stored), false);
    assert.equal(sameJson(built, stored), true);
  });
  it("takes an undefined property for an absent one, as JSON does", () => {
    assert.equal(sameJson({ a: 1, b: undefined }, { a: 1 }), true);
  });
  it("sees a changed value, a changed array order and undefined against null", () => {
    assert.equal(sameJson({ a: 1 }, { a: 2 }), false);
    assert.equal(sameJson([1, 2], [2, 1]), false);
    assert.equal(sameJson(undefined, null), false);
    assert.equal(sameJson(undefined, undefined), true);
  });
});

describe("canonicalJson", () => {
  it("gives one text for documents that differ only in key order", () => {
    const a = { b: { y: 1, x: [{ q: 1, p: 2 }] }, a: null };
    const b = { a: null, b: { x: [{ p: 2, q: 1 }], y: 1 } };
    assert.equal(canonicalJson(a), canonicalJson(b));
    assert.equal(canonicalJson(a), '{"a":null,"b":{"x":[{"p":2,"q":1}],"y":1}}');
  });
});
