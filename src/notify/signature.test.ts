import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import { sign, verifySignature } from "./signature.js";

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const BODY = '{"event":"aborted","service":"shop"}';

describe("signatures", () => {
  it("signs t=<seconds>,v1=<HMAC-SHA256 of '<t>.<body>'>, as a receiver would compute it", () => {
    const header = sign("k", BODY, NOW + 999);
    const t = Math.floor(NOW / 1000);
    const mac = createHmac("sha256", "k").update(`${t}.${BODY}`).digest("hex");
    assert.equal(header, `t=${t},v1=${mac}`);
  });

  it("verifies what it signed, for strings and raw bytes alike", () => {
    const header = sign("k", BODY, NOW);
    assert.deepEqual(verifySignature("k", header, BODY, NOW), { ok: true });
    assert.deepEqual(verifySignature("k", header, Buffer.from(BODY), NOW + 60_000), { ok: true });
  });

  it("refuses a tampered body, another key, or a mangled signature", () => {
    const header = sign("k", BODY, NOW);
    assert.deepEqual(verifySignature("k", header, BODY.replace("shop", "shoq"), NOW), {
      ok: false,
      reason: "signature does not match",
    });
    assert.equal(verifySignature("other", header, BODY, NOW).ok, false);
    const flipped = header.replace(/.$/, (c) => (c === "0" ? "1" : "0"));
    assert.equal(verifySignature("k", flipped, BODY, NOW).ok, false);
    assert.equal(verifySignature("k", header.replace(/v1=.*/, "v1=abc"), BODY, NOW).ok, false);
  });

  it("refuses replays older than the tolerance, and timestamps from the future", () => {
    const header = sign("k", BODY, NOW);
    assert.equal(verifySignature("k", header, BODY, NOW + 5 * 60_000).ok, true);
    assert.deepEqual(verifySignature("k", header, BODY, NOW + 5 * 60_000 + 1000), {
      ok: false,
      reason: "timestamp too old (possible replay)",
    });
    assert.equal(verifySignature("k", header, BODY, NOW + 30_000, 10_000).ok, false);
    assert.deepEqual(verifySignature("k", header, BODY, NOW - 10 * 60_000), {
      ok: false,
      reason: "timestamp in the future",
    });
  });

  it("says what is wrong with a malformed header", () => {
    const reason = (h: string | undefined) => {
      const r = verifySignature("k", h, BODY, NOW);
      return r.ok ? "ok" : r.reason;
    };
    assert.equal(reason(undefined), "no signature header");
    assert.equal(reason(""), "no signature header");
    assert.equal(reason("garbage"), "malformed signature header");
    assert.equal(reason("t=abc,v1=00"), "malformed timestamp");
    assert.equal(reason("v1=00"), "no timestamp in signature header");
    assert.equal(reason(`t=${NOW / 1000}`), "no v1 signature in header");
  });

  it("accepts any one matching v1 (key rotation) and ignores unknown schemes", () => {
    const good = sign("new", BODY, NOW);
    const t = good.slice(2, good.indexOf(","));
    const oldMac = createHmac("sha256", "old").update(`${t}.${BODY}`).digest("hex");
    const both = `${good},v1=${oldMac},v0=whatever`;
    assert.equal(verifySignature("new", both, BODY, NOW).ok, true);
    assert.equal(verifySignature("old", both, BODY, NOW).ok, true);
    assert.equal(verifySignature("third", both, BODY, NOW).ok, false);
  });
});
