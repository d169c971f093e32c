import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { relayResponseHeaders } from "./headers.js";

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
});
