import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ANALYSIS_ABORT, PROMOTED, sampleEvent } from "../test-events.js";
import { escapeCardMarkdown, teamsBody } from "./teams.js";

describe("teams format", () => {
  it("escapes the Markdown Adaptive Cards read, including line-leading markers", () => {
    assert.equal(escapeCardMarkdown("a*b*_c_ [x](y) `z`"), "a\\*b\\*\\_c\\_ \\[x\\](y) \\`z\\`");
    assert.equal(escapeCardMarkdown("- item\n1. first\n# h"), "\\- item\n\n1\\. first\n\n\\# h");
    assert.equal(escapeCardMarkdown("a - b 1. c"), "a - b 1. c", "mid-line markers mean nothing");
  });

  it("sends a message with one Adaptive Card 1.4 attachment", () => {
    const msg = teamsBody(sampleEvent(), { deliveryId: "d" });
    assert.equal(msg.type, "message");
    assert.equal(msg.attachments.length, 1);
    const att = msg.attachments[0]!;
    assert.equal(att.contentType, "application/vnd.microsoft.card.adaptive");
    assert.equal(att.content.type, "AdaptiveCard");
    assert.equal(att.content.version, "1.4");
    assert.equal(att.content.$schema, "http://adaptivecards.io/schemas/adaptive-card.json");
    const [title, reason, facts, footer] = att.content.body;
    assert.deepEqual(title, {
      type: "TextBlock",
      text: "shop: canary weight 25%",
      wrap: true,
      weight: "Bolder",
      size: "Medium",
      style: "heading",
      color: "Default",
    });
    assert.ok(reason?.type === "TextBlock");
    assert.equal(reason.text, "canary weight 5% → 25%");
    assert.ok(facts?.type === "FactSet");
    assert.deepEqual(
      facts.facts.map((f) => `${f.title}=${f.value}`),
      ["Service=shop", "Weight=25%", "Phase=Progressing", "Step=3", "Actor=controller"],
    );
    assert.ok(footer?.type === "TextBlock");
    assert.equal(footer.text, "rollout 0mj3k2x1a-4f2a9c0d1e2b · 2026-01-01T12:30:00.000Z");
    assert.equal(footer.isSubtle, true);
  });

  it("colours by outcome and escapes event text", () => {
    const abort = teamsBody(
      { ...ANALYSIS_ABORT, reason: "p99 *way* up [see](x)" },
      { deliveryId: "d" },
    ).attachments[0]!.content.body;
    assert.ok(abort[0]?.type === "TextBlock");
    assert.equal(abort[0].color, "Attention");
    assert.ok(abort[1]?.type === "TextBlock");
    assert.equal(abort[1].text, "p99 \\*way\\* up \\[see\\](x)");
    const promoted = teamsBody(PROMOTED, { deliveryId: "d" }).attachments[0]!.content.body[0];
    assert.ok(promoted?.type === "TextBlock");
    assert.equal(promoted.color, "Good");
  });

  it("leaves out the reason block when there is no reason", () => {
    const body = teamsBody(sampleEvent({ reason: "" }), { deliveryId: "d" }).attachments[0]!.content
      .body;
    assert.deepEqual(
      body.map((b) => b.type),
      ["TextBlock", "FactSet", "TextBlock"],
    );
  });
});
