import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ANALYSIS_ABORT, OPERATOR_ABORT, PROMOTED, sampleEvent } from "../test-events.js";
import { DISCORD_COLOURS, discordBody, escapeDiscord } from "./discord.js";

describe("discord format", () => {
  it("escapes Discord Markdown, mentions and masked links", () => {
    assert.equal(
      escapeDiscord("a*b*_c_ ~~d~~ `e` ||f||"),
      "a\\*b\\*\\_c\\_ \\~\\~d\\~\\~ \\`e\\` \\|\\|f\\|\\|",
    );
    assert.equal(escapeDiscord("<@123> [x](y) # h"), "\\<@123\\> \\[x\\](y) \\# h");
    assert.equal(escapeDiscord("- a\n2. b"), "\\- a\n2\\. b");
  });

  it("sends content plus one embed with title, description, colour, fields and time", () => {
    const msg = discordBody(sampleEvent(), {
      deliveryId: "d",
      versions: { stable: "v1", canary: "v2" },
    });
    assert.equal(msg.content, "shop: canary weight 25%");
    assert.deepEqual(msg.allowed_mentions, { parse: [] }, "no reason text can ping anyone");
    assert.equal(msg.embeds.length, 1);
    const embed = msg.embeds[0]!;
    assert.equal(embed.title, "shop: canary weight 25%");
    assert.equal(embed.description, "canary weight 5% → 25%");
    assert.equal(embed.color, DISCORD_COLOURS.neutral);
    assert.equal(embed.timestamp, "2026-01-01T12:30:00.000Z");
    assert.deepEqual(embed.footer, { text: "rollout 0mj3k2x1a-4f2a9c0d1e2b" });
    assert.deepEqual(
      embed.fields.map((f) => [f.name, f.value, f.inline]),
      [
        ["Service", "shop", true],
        ["Versions", "v1 → v2", true],
        ["Weight", "25%", true],
        ["Phase", "Progressing", true],
        ["Step", "3", true],
        ["Actor", "controller", true],
      ],
    );
  });

  it("colours aborts red and promotions green", () => {
    assert.equal(discordBody(ANALYSIS_ABORT, { deliveryId: "d" }).embeds[0]?.color, 0xed4245);
    assert.equal(discordBody(OPERATOR_ABORT, { deliveryId: "d" }).embeds[0]?.color, 0xed4245);
    assert.equal(discordBody(PROMOTED, { deliveryId: "d" }).embeds[0]?.color, 0x57f287);
  });

  it("escapes event text and keeps within embed limits", () => {
    const evil = sampleEvent({ reason: `@everyone **boom** ${"x".repeat(5000)}` });
    const embed = discordBody(evil, { deliveryId: "d" }).embeds[0]!;
    assert.ok(embed.description?.startsWith("@everyone \\*\\*boom\\*\\* "));
    assert.ok((embed.description?.length ?? 0) <= 4096);
    const total =
      embed.title.length +
      (embed.description?.length ?? 0) +
      embed.fields.reduce((n, f) => n + f.name.length + f.value.length, 0) +
      (embed.footer?.text.length ?? 0);
    assert.ok(total <= 6000, `${total}`);
  });
});
