/**
 * The published OpenFeature server SDK with the published OFREP provider, in Node, against
 * Aviary's OFREP listener: what an application written to the standard gets.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { type Client, ErrorCode, OpenFeature } from "@openfeature/server-sdk";
import { evaluate } from "../src/flags/evaluate.js";
import { Flag } from "../src/flags/schema.js";
import { CLIENT_KEY, FLAGS, type OfrepAviary, startOfrepAviary } from "./ofrep-fixtures.js";

let av: OfrepAviary;
let client: Client;

before(async () => {
  av = await startOfrepAviary();
  await OpenFeature.setProviderAndWait(
    new OFREPProvider({ baseUrl: av.ofrep, headers: { Authorization: `Bearer ${CLIENT_KEY}` } }),
  );
  client = OpenFeature.getClient();
});
after(async () => {
  await OpenFeature.close();
  await av?.close();
});

describe("@openfeature/server-sdk with @openfeature/ofrep-provider", () => {
  it("evaluates a boolean and a string flag", async () => {
    const b = await client.getBooleanDetails("new-checkout", false, {
      targetingKey: "u-1",
      "user-type": "beta-tester",
    });
    assert.equal(b.value, true);
    assert.equal(b.reason, "TARGETING_MATCH");
    assert.equal(b.variant, "on");
    assert.equal(b.errorCode, undefined);
    assert.equal(b.flagMetadata.team, "payments");
    const s = await client.getStringDetails("banner-text", "?", { targetingKey: "u-1" });
    assert.equal(s.value, "Welcome");
    assert.equal(s.reason, "STATIC");
  });

  it("agrees with evaluate() on a 5 % rollout for 300 keys", async () => {
    const flag = Flag.parse(FLAGS[0]);
    let on = 0;
    for (let i = 0; i < 300; i++) {
      const ctx = { targetingKey: `user-${i}` };
      const value = await client.getBooleanValue("new-checkout", false, ctx);
      assert.equal(value, evaluate(flag, ctx).value, ctx.targetingKey);
      if (value) on++;
    }
    // 5 % of 300 is 15: murmur3 buckets are close to uniform.
    assert.ok(on > 3 && on < 35, `${on} of 300 have it`);
  });

  it("reports FLAG_NOT_FOUND with the caller's default", async () => {
    const d = await client.getBooleanDetails("no-such-flag", true, { targetingKey: "u-1" });
    assert.equal(d.value, true);
    assert.equal(d.errorCode, ErrorCode.FLAG_NOT_FOUND);
    assert.equal(d.reason, "ERROR");
  });
});
