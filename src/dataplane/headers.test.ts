import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressMatcher } from "../util/cidr.js";
import { type ForwardContext, forwardRequestHeaders, relayResponseHeaders } from "./headers.js";
import { HeaderSlots } from "./request-view.js";

describe("relayResponseHeaders", () => {
  it("reuses a list with nothing to drop and adds Via", () => {
    const raw = ["content-type", "text/plain", "content-length", "2"];
    const out = relayResponseHeaders(raw);
    assert.equal(out, raw);
    assert.deepEqual(out, [
      "content-type",
      "text/plain",
      "content-length",
      "2",
      "via",
      "1.1 aviary",
    ]);
  });

  it("drops Connection and Keep-Alive wherever they stand, keeping the order of the rest", () => {
    const out = relayResponseHeaders([
      "Content-Type",
      "text/plain",
      "Connection",
      "keep-alive",
      "Date",
      "Wed, 02 Dec 2026 03:52:24 GMT",
      "Keep-Alive",
      "timeout=5",
      "X-Last",
      "1",
    ]);
    assert.deepEqual(out, [
      "Content-Type",
      "text/plain",
      "Date",
      "Wed, 02 Dec 2026 03:52:24 GMT",
      "X-Last",
      "1",
      "via",
      "1.1 aviary",
    ]);
  });

  it("drops the fields Connection names, in any case, and merges the upstream's Via", () => {
    const out = relayResponseHeaders([
      "x-secret",
      "s",
      "Via",
      "1.1 upstream-cache",
      "Connection",
      " Keep-Alive, X-Secret ",
      "x-kept",
      "k",
      "transfer-encoding",
      "chunked",
    ]);
    assert.deepEqual(out, ["x-kept", "k", "via", "1.1 upstream-cache, 1.1 aviary"]);
  });

  it("never lets the upstream's Connection remove Aviary's Via or the framing", () => {
    const out = relayResponseHeaders([
      "content-length",
      "2",
      "Connection",
      "via, content-length, x-gone",
      "x-gone",
      "1",
    ]);
    assert.deepEqual(out, ["content-length", "2", "via", "1.1 aviary"]);
  });
});

function context(clientAddress: string | undefined = "192.0.2.1"): ForwardContext {
  const slots = new HeaderSlots();
  slots.slot("host");
  return { slots, captured: [], clientAddress, proto: "http", hasBody: false };
}

/** The forwarded list as a name → values map (lower-case names, repeated names in order). */
function fields(list: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < list.length; i += 2) {
    const name = (list[i] as string).toLowerCase();
    out.set(name, [...(out.get(name) ?? []), list[i + 1] as string]);
  }
  return out;
}

describe("forwardRequestHeaders", () => {
  it("sets X-Forwarded-*, Forwarded and Via from what Aviary saw", () => {
    const out = fields(
      forwardRequestHeaders(["Host", "shop.example.com:8080", "Accept", "*/*"], context()),
    );
    assert.deepEqual(out.get("host"), ["shop.example.com:8080"]);
    assert.deepEqual(out.get("x-forwarded-for"), ["192.0.2.1"]);
    assert.deepEqual(out.get("x-forwarded-proto"), ["http"]);
    assert.deepEqual(out.get("x-forwarded-host"), ["shop.example.com:8080"]);
    assert.deepEqual(out.get("forwarded"), [
      'for=192.0.2.1;host="shop.example.com:8080";proto=http',
    ]);
    assert.deepEqual(out.get("via"), ["1.1 aviary"]);
  });

  it("brackets and quotes an IPv6 client in Forwarded", () => {
    const out = fields(forwardRequestHeaders(["host", "a"], context("2001:db8::7")));
    assert.deepEqual(out.get("forwarded"), ['for="[2001:db8::7]";host=a;proto=http']);
  });

  it("lets Connection remove only the client's own fields: never Host, framing or Aviary's", () => {
    const out = fields(
      forwardRequestHeaders(
        [
          "Host",
          "shop.example.com",
          "X-Secret",
          "s",
          "Content-Length",
          "3",
          "X-Forwarded-For",
          "203.0.113.9",
          "Via",
          "1.0 edge",
          "Connection",
          "keep-alive, X-Secret, x-forwarded-for, x-forwarded-proto, x-forwarded-host, forwarded, via, host, content-length",
        ],
        context(),
        () => true,
      ),
    );
    assert.equal(out.get("x-secret"), undefined);
    assert.deepEqual(out.get("host"), ["shop.example.com"]);
    assert.deepEqual(out.get("content-length"), ["3"]);
    // Trusted, yet the client declared its own values hop-by-hop: only Aviary's hop remains.
    assert.deepEqual(out.get("x-forwarded-for"), ["192.0.2.1"]);
    assert.deepEqual(out.get("x-forwarded-proto"), ["http"]);
    assert.deepEqual(out.get("x-forwarded-host"), ["shop.example.com"]);
    assert.deepEqual(out.get("forwarded"), ["for=192.0.2.1;host=shop.example.com;proto=http"]);
    assert.deepEqual(out.get("via"), ["1.1 aviary"]);
  });

  const spoofed = [
    "host",
    "shop.example.com",
    "x-forwarded-for",
    "10.9.9.9",
    "x-forwarded-proto",
    "https",
    "x-forwarded-host",
    "admin.internal",
    "forwarded",
    "for=10.9.9.9;proto=https",
    "x-forwarded-port",
    "443",
    "x-forwarded-prefix",
    "/admin",
    "x-real-ip",
    "10.9.9.9",
  ];

  it("replaces an untrusted client's forwarding headers and drops the ones Aviary does not set", () => {
    for (const trust of [undefined, addressMatcher(["10.0.0.0/8"])]) {
      const out = fields(forwardRequestHeaders(spoofed, context(), trust));
      assert.deepEqual(out.get("x-forwarded-for"), ["192.0.2.1"]);
      assert.deepEqual(out.get("x-forwarded-proto"), ["http"]);
      assert.deepEqual(out.get("x-forwarded-host"), ["shop.example.com"]);
      assert.deepEqual(out.get("forwarded"), ["for=192.0.2.1;host=shop.example.com;proto=http"]);
      for (const name of ["x-forwarded-port", "x-forwarded-prefix", "x-real-ip"])
        assert.equal(out.get(name), undefined, name);
    }
  });

  it("keeps a trusted proxy's forwarding headers and appends Aviary's hop", () => {
    const trust = addressMatcher(["192.0.2.0/24"]);
    const out = fields(forwardRequestHeaders(spoofed, context(), trust));
    assert.deepEqual(out.get("x-forwarded-for"), ["10.9.9.9, 192.0.2.1"]);
    assert.deepEqual(out.get("x-forwarded-proto"), ["https"]);
    assert.deepEqual(out.get("x-forwarded-host"), ["admin.internal"]);
    assert.deepEqual(out.get("forwarded"), [
      "for=10.9.9.9;proto=https, for=192.0.2.1;host=shop.example.com;proto=http",
    ]);
    assert.deepEqual(out.get("x-forwarded-port"), ["443"]);
    assert.deepEqual(out.get("x-real-ip"), ["10.9.9.9"]);
  });
});
