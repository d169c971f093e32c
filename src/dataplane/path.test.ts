import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { normalizePath, normalizeRequestTarget } from "./path.js";

describe("normalizeRequestTarget", () => {
  it("returns the very same string for ordinary paths (the hot path)", () => {
    for (const t of ["/", "/shop", "/shop/cart?x=1&y=/../z", "/a.b/c.d", "/a/b/", "/x?%zz"]) {
      assert.equal(normalizeRequestTarget(t), t);
    }
  });

  it("removes dot segments, plain or percent-encoded in any case", () => {
    const cases: Array<[string, string]> = [
      ["/shop/../admin", "/admin"],
      ["/shop/%2e%2e/admin", "/admin"],
      ["/shop/%2E%2E/admin", "/admin"],
      ["/shop/.%2e/admin", "/admin"],
      ["/shop/./cart", "/shop/cart"],
      ["/shop/.", "/shop/"],
      ["/shop/..", "/"],
      ["/a/b/../../../../etc/passwd", "/etc/passwd"],
      ["/../x", "/x"],
      ["/..", "/"],
      ["/.well-known/x", "/.well-known/x"],
      ["/a/.../b", "/a/.../b"],
    ];
    for (const [input, want] of cases) assert.equal(normalizeRequestTarget(input), want, input);
  });

  it("merges slashes before removing dots, so `//..` cannot eat an empty segment", () => {
    assert.equal(normalizeRequestTarget("//shop///cart//"), "/shop/cart/");
    assert.equal(normalizeRequestTarget("/shop//../admin"), "/admin");
    assert.equal(normalizeRequestTarget("//"), "/");
  });

  it("decodes unreserved escapes, upper-cases the others and keeps %2F and %5C escaped", () => {
    assert.equal(normalizeRequestTarget("/%73hop/%7euser"), "/shop/~user");
    assert.equal(normalizeRequestTarget("/caf%c3%a9"), "/caf%C3%A9");
    assert.equal(normalizeRequestTarget("/shop/..%2fadmin"), "/shop/..%2Fadmin");
    assert.equal(normalizeRequestTarget("/shop%2F..%2Fadmin"), "/shop%2F..%2Fadmin");
    assert.equal(normalizeRequestTarget("/shop/%5c..%5cadmin"), "/shop/%5C..%5Cadmin");
  });

  it("leaves the query exactly as sent", () => {
    assert.equal(normalizeRequestTarget("/a/../b?p=/../%2e%2e&q=%zz"), "/b?p=/../%2e%2e&q=%zz");
    assert.equal(normalizeRequestTarget("/a//b?"), "/a/b?");
  });

  it("refuses invalid escapes, raw backslashes and raw #", () => {
    for (const t of ["/a%zz", "/a%", "/a%2", "/shop\\..\\admin", "/a#/../b", "/%g0"])
      assert.equal(normalizeRequestTarget(t), undefined, t);
  });

  it("leaves targets that are not in origin-form alone", () => {
    assert.equal(normalizeRequestTarget("*"), "*");
    assert.equal(normalizeRequestTarget("http://x/a/../b"), "http://x/a/../b");
  });
});

// Paths made of the characters that matter: segments of letters, dots, escapes and slashes.
const pathChars = fc.constantFrom("a", "b", ".", "/", "%2e", "%2E", "%2f", "%41", "%c3", "~", "-");
const paths = fc.array(pathChars, { maxLength: 24 }).map((cs) => `/${cs.join("")}`);

describe("normalizePath properties", () => {
  it("is idempotent", () => {
    fc.assert(
      fc.property(paths, (p) => {
        const once = normalizePath(p);
        assert.notEqual(once, undefined);
        assert.equal(normalizePath(once as string), once);
      }),
    );
  });

  it("never yields a dot segment, an empty segment inside the path or an unreserved escape", () => {
    fc.assert(
      fc.property(paths, (p) => {
        const out = normalizePath(p) as string;
        assert.ok(out.startsWith("/"));
        const segments = out.slice(1).split("/");
        for (const [i, s] of segments.entries()) {
          assert.ok(s !== "." && s !== "..", `${p} → ${out}`);
          assert.ok(s !== "" || i === segments.length - 1, `${p} → ${out}`);
        }
        assert.doesNotMatch(out, /%(2[eE]|41)/);
        assert.doesNotMatch(out, /%[0-9A-F]?[a-f]/);
      }),
    );
  });

  it("leaves a path without escapes, dot segments or double slashes unchanged", () => {
    const plain = fc
      .array(fc.stringMatching(/^[a-zA-Z0-9_~-][a-zA-Z0-9._~-]*$/), { maxLength: 8 })
      .map((segments) => `/${segments.join("/")}`);
    fc.assert(
      fc.property(plain, fc.boolean(), (p, slash) => {
        const path = slash && p !== "/" ? `${p}/` : p;
        assert.equal(normalizePath(path), path);
        assert.equal(normalizeRequestTarget(path), path);
      }),
    );
  });
});
