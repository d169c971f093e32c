import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_JSON_DEPTH, parseJsonBody } from "./body.js";

describe("parseJsonBody", () => {
  it("takes ordinary JSON", () => {
    assert.deepEqual(parseJsonBody('{"a":[1,{"b":null}]}'), { a: [1, { b: null }] });
  });

  it(`takes ${MAX_JSON_DEPTH} levels of nesting and refuses one more`, () => {
    const nest = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
    parseJsonBody(nest(MAX_JSON_DEPTH));
    assert.throws(() => parseJsonBody(nest(MAX_JSON_DEPTH + 1)), /nested more than/);
    // A million levels: refused, without overflowing any stack.
    assert.throws(() => parseJsonBody(nest(1_000_000)), /nested more than/);
  });

  it("refuses __proto__ anywhere, and constructor holding prototype", () => {
    assert.throws(() => parseJsonBody('{"__proto__":{"x":1}}'), /__proto__/);
    assert.throws(() => parseJsonBody('[{"a":{"__proto__":1}}]'), /__proto__/);
    assert.throws(() => parseJsonBody('{"constructor":{"prototype":{}}}'), /constructor/);
    assert.deepEqual(parseJsonBody('{"constructor":"fine"}'), { constructor: "fine" });
  });

  it("refuses what is not JSON, or nothing", () => {
    assert.throws(() => parseJsonBody("{"), /not valid JSON/);
    assert.throws(() => parseJsonBody("  "), /empty/);
  });
});
