import assert from "node:assert/strict";
import { describe, it } from "node:test";
import murmurhash3js from "murmurhash3js";
import {
  BUCKETS,
  bucketerFor,
  murmur3,
  PrefixedHasher,
  VARIANT_SEED,
  variantHasherFor,
  weightedPosition,
} from "./hash.js";

// Unleash's published cross-SDK vectors (unleash-client-node src/strategy/util.test.ts):
// normalizedStrategyValue(userId, groupId) = murmur3("groupId:userId", 0) % 100 + 1.
const UNLEASH_VECTORS: Array<[userId: string, groupId: string, normalized: number]> = [
  ["123", "gr1", 73],
  ["999", "groupX", 25],
];

describe("murmur3", () => {
  it("agrees with murmurhash3js (the Unleash Node SDK's hash) on ASCII, empty and non-ASCII keys", () => {
    const keys = [
      "",
      "a",
      "ab",
      "abc",
      "abcd",
      "abcde",
      "user-42",
      "usér-é",
      "用户-42",
      "x".repeat(257),
    ];
    for (let i = 0; i < 500; i++) keys.push(`user-${(i * 7919) % 100_003}`);
    for (const key of keys) assert.equal(murmur3(key), murmurhash3js.x86.hash32(key, 0), key);
  });

  it("hashes prefix + key identically whatever the prefix length modulo 4", () => {
    for (const prefix of ["", "a:", "ab:", "abc:", "abcd:", "checkout:", "a-much-longer-group:"]) {
      const hasher = new PrefixedHasher(prefix);
      for (const key of ["", "1", "12", "123", "1234", "user-1234567"]) {
        assert.equal(
          hasher.hash(key),
          murmurhash3js.x86.hash32(prefix + key, 0),
          `${prefix}|${key}`,
        );
      }
    }
  });
});

describe("bucket", () => {
  it("reproduces Unleash's gradual-rollout vectors: enabled at N % exactly when on canary at weight N", () => {
    for (const [userId, groupId, normalized] of UNLEASH_VECTORS) {
      const bucket = bucketerFor(groupId).bucket(userId);
      // Unleash enables the user when normalized <= rollout; Aviary when bucket < weight × 100.
      assert.ok(bucket < normalized * 100, `${userId}: bucket ${bucket} below ${normalized}%`);
      assert.ok(
        bucket >= (normalized - 1) * 100,
        `${userId}: bucket ${bucket} not below ${normalized - 1}%`,
      );
    }
  });

  it("agrees with Unleash's rule for every integer weight on many ids", () => {
    const bucketer = bucketerFor("checkout");
    for (let i = 0; i < 2_000; i++) {
      const id = `u${i}`;
      const unleash = (murmurhash3js.x86.hash32(`checkout:${id}`, 0) % 100) + 1;
      const bucket = bucketer.bucket(id);
      for (const weight of [1, 5, 10, 25, 50, 99]) {
        assert.equal(bucket < weight * 100, unleash <= weight, `${id} at ${weight}%`);
      }
    }
  });

  it("spreads ids evenly over the buckets", () => {
    const bucketer = bucketerFor("svc");
    const n = 100_000;
    let below500 = 0;
    let below5000 = 0;
    for (let i = 0; i < n; i++) {
      const b = bucketer.bucket(`user-${i}`);
      assert.ok(b >= 0 && b < BUCKETS);
      if (b < 500) below500++;
      if (b < 5000) below5000++;
    }
    // Binomial standard deviation at 5 % of 100k is ~69; allow 5 sigma.
    assert.ok(Math.abs(below500 - 5000) < 350, `5% got ${below500}`);
    assert.ok(Math.abs(below5000 - 50_000) < 800, `50% got ${below5000}`);
  });

  it("groups bucket independently, so two services do not pick the same users", () => {
    const a = bucketerFor("a");
    const b = bucketerFor("b");
    let both = 0;
    for (let i = 0; i < 10_000; i++) {
      if (a.bucket(`u${i}`) < 1000 && b.bucket(`u${i}`) < 1000) both++;
    }
    // Independent 10 % selections overlap on ~1 % of users, not ~10 %.
    assert.ok(both > 50 && both < 170, `overlap ${both}`);
  });
});

describe("variant choice", () => {
  it("is Unleash's normalizedVariantValue: murmur3 of group:key, seed 86028157, over the total weight", () => {
    for (const group of ["f", "Feature.Variants.C", "a-much-longer-group"]) {
      const hasher = variantHasherFor(group);
      for (let i = 0; i < 500; i++) {
        const key = `user-${i}`;
        for (const total of [1, 2, 3, 99, 1000]) {
          const unleash = (murmurhash3js.x86.hash32(`${group}:${key}`, VARIANT_SEED) % total) + 1;
          assert.equal(weightedPosition(hasher, key, total), unleash, `${group}:${key} / ${total}`);
        }
      }
    }
  });
});
