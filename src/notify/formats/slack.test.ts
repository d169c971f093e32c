import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ANALYSIS_ABORT, PROMOTED, sampleEvent } from "../test-events.js";
import { escapeMrkdwn, slackBody } from "./slack.js";

describe("slack format", () => {
  it("escapes the three characters mrkdwn reserves, and only those", () => {
    assert.equal(escapeMrkdwn("a & b <@U123> > c *d*"), "a &amp; b &lt;@U123&gt; &gt; c *d*");
  });

  it("builds text plus header, fields and context blocks", () => {
    const msg = slackBody(sampleEvent(), {
      deliveryId: "d",
      versions: { stable: "v1", canary: "v2" },
    });
    assert.equal(msg.text, "shop: canary weight 25%: canary weight 5% → 25%");
    assert.equal(msg.blocks.length, 3);
    assert.deepEqual(msg.blocks[0], {
      type: "header",
      text: { type: "plain_text", text: "shop: canary weight 25%", emoji: true },
    });
    const section = msg.blocks[1];
    assert.ok(section?.type === "section");
    assert.deepEqual(
      section.fields.map((f) => f.text),
      [
        "*Service*\nshop",
        "*Versions*\nv1 → v2",
        "*Weight*\n25%",
        "*Phase*\nProgressing",
        "*Step*\n3",
        "*Actor*\ncontroller",
        "*Reason*\ncanary weight 5% → 25%",
      ],
    );
    assert.ok(section.fields.every((f) => f.type === "mrkdwn"));
    const context = msg.blocks[2];
    assert.ok(context?.type === "context");
    assert.equal(
      context.elements[0]?.text,
      `rollout 0mj3k2x1a-4f2a9c0d1e2b · <!date^${Date.UTC(2026, 0, 1, 12, 30) / 1000}^{date_short_pretty} {time_secs}|2026-01-01T12:30:00.000Z>`,
    );
  });

  it("escapes event text in mrkdwn fields and text, marks failures and successes", () => {
    const msg = slackBody(ANALYSIS_ABORT, { deliveryId: "d" });
    assert.match(msg.text, /\(&lt;b&gt;&amp;&lt;\/b&gt;\)$/);
    assert.ok(!msg.text.includes("<b>"));
    const section = msg.blocks[1];
    assert.ok(section?.type === "section");
    const reason = section.fields.find((f) => f.text.startsWith("*Reason*"));
    assert.equal(
      reason?.text,
      "*Reason*\nanalysis failed: error rate 4.1% &gt; 1% (&lt;b&gt;&amp;&lt;/b&gt;)",
    );
    const header = msg.blocks[0];
    assert.ok(header?.type === "header");
    assert.equal(header.text.text, ":x: shop: analysis failed, rollout aborted");
    const promoted = slackBody(PROMOTED, { deliveryId: "d" }).blocks[0];
    assert.ok(promoted?.type === "header");
    assert.match(promoted.text.text, /^:white_check_mark: /);
  });

  it("stays within Block Kit's limits for long reasons", () => {
    const long = sampleEvent({ reason: "<&>".repeat(2000) });
    const msg = slackBody(long, { deliveryId: "d" });
    assert.ok(msg.text.length <= 3000);
    const section = msg.blocks[1];
    assert.ok(section?.type === "section");
    for (const f of section.fields) assert.ok(f.text.length <= 2000, `${f.text.length}`);
    assert.ok(section.fields.length <= 10);
    const reason = section.fields.at(-1)?.text ?? "";
    assert.match(reason, /(&lt;|&amp;|&gt;)…$/, "cut between escapes, never inside one");
  });
});
