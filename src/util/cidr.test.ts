import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressMatcher, parseCidr } from "./cidr.js";

describe("parseCidr", () => {
  it("reads ranges and single addresses of both families", () => {
    assert.deepEqual(parseCidr("10.0.0.0/8"), { address: "10.0.0.0", prefix: 8, family: "ipv4" });
    assert.deepEqual(parseCidr("192.0.2.7"), { address: "192.0.2.7", prefix: 32, family: "ipv4" });
    assert.deepEqual(parseCidr("2001:db8::/32"), {
      address: "2001:db8::",
      prefix: 32,
      family: "ipv6",
    });
  });

  it("refuses what is not a range", () => {
    for (const bad of [
      "",
      "10.0.0.0/33",
      "::/129",
      "10.0.0/8",
      "example.com",
      "10.0.0.0/",
      "1.2.3.4/-1",
    ])
      assert.equal(parseCidr(bad), undefined, bad);
  });
});

describe("addressMatcher", () => {
  it("is undefined for no ranges, so callers skip the check", () => {
    assert.equal(addressMatcher([]), undefined);
  });

  it("matches IPv4, IPv4-mapped IPv6 and IPv6 addresses", () => {
    const m = addressMatcher(["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"]) as (
      a: string,
    ) => boolean;
    assert.ok(m("10.20.30.40"));
    assert.ok(m("::ffff:10.20.30.40"));
    assert.ok(m("127.0.0.1"));
    assert.ok(m("2001:db8::1"));
    assert.ok(!m("11.0.0.1"));
    assert.ok(!m("127.0.0.2"));
    assert.ok(!m("2001:db9::1"));
    assert.ok(!m("unknown"));
  });
});
