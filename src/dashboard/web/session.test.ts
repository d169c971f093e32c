import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TOKEN_KEY, tokenProblem, tokenStore } from "./session.js";

function memoryStorage() {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k: string) => map.get(k) ?? null,
    setItem: (k: string, v: string) => void map.set(k, v),
    removeItem: (k: string) => void map.delete(k),
  };
}

describe("token storage", () => {
  it("keeps the token in session storage under one key, and clears it on sign-out", () => {
    const storage = memoryStorage();
    const store = tokenStore(storage);
    assert.equal(store.get(), null);
    store.set("abc");
    assert.deepEqual([...storage.map], [[TOKEN_KEY, "abc"]]);
    assert.equal(store.get(), "abc");
    store.clear();
    assert.equal(store.get(), null);
    assert.equal(storage.map.size, 0);
  });

  it("falls back to memory when storage throws (private mode)", () => {
    const broken = {
      getItem: () => {
        throw new Error("denied");
      },
      setItem: () => {
        throw new Error("denied");
      },
      removeItem: () => {
        throw new Error("denied");
      },
    };
    const store = tokenStore(broken);
    store.set("abc");
    assert.equal(store.get(), "abc");
    store.clear();
    assert.equal(store.get(), null);
  });

  it("says what is wrong with a typed token", () => {
    assert.equal(tokenProblem("  "), "enter a token");
    assert.equal(tokenProblem("ab cd"), "a token has no spaces in it; paste it again");
    assert.equal(tokenProblem("  abc  "), null, "surrounding spaces from a paste are fine");
  });
});
