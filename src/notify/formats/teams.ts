/**
 * A Microsoft Teams message carrying one Adaptive Card (schema 1.4), the shape Teams
 * workflow webhooks ("Post to a channel when a webhook request is received") and incoming
 * webhooks accept: a title coloured by outcome, the reason, the facts as a FactSet, and a
 * subtle line with the rollout id and time.
 *
 * TextBlocks and fact values are read as Markdown, so event text is escaped: punctuation
 * Markdown gives meaning to gets a backslash, line-leading list and heading markers too, and
 * single line breaks are doubled (Markdown would join the lines).
 *
 * @module
 */

import type { RolloutEvent } from "../../rollout/types.js";
import { type FormatContext, fit, type Outcome, summarize } from "./summary.js";

/** Escapes Adaptive Card Markdown so text shows as written. */
export function escapeCardMarkdown(text: string): string {
  return text
    .replace(/[\\*_~`[\]]/g, "\\$&")
    .replace(/^(\s*)([-+#]|\d+\.)/gm, (_m, space: string, marker: string) =>
      marker.endsWith(".") ? `${space}${marker.slice(0, -1)}\\.` : `${space}\\${marker}`,
    )
    .replace(/\r?\n/g, "\n\n");
}

const COLOUR: Record<Outcome, "Attention" | "Good" | "Default"> = {
  failure: "Attention",
  success: "Good",
  neutral: "Default",
};

type CardElement =
  | {
      type: "TextBlock";
      text: string;
      wrap: true;
      weight?: "Bolder";
      size?: "Small" | "Medium";
      color?: "Attention" | "Good" | "Default";
      style?: "heading";
      isSubtle?: true;
    }
  | { type: "FactSet"; facts: Array<{ title: string; value: string }> };

export interface TeamsMessage {
  type: "message";
  attachments: Array<{
    contentType: "application/vnd.microsoft.card.adaptive";
    contentUrl: null;
    content: {
      $schema: "http://adaptivecards.io/schemas/adaptive-card.json";
      type: "AdaptiveCard";
      version: "1.4";
      msteams: { width: "Full" };
      body: CardElement[];
    };
  }>;
}

export function teamsBody(event: RolloutEvent, ctx: FormatContext): TeamsMessage {
  const s = summarize(event, ctx);
  const body: CardElement[] = [
    {
      type: "TextBlock",
      text: fit(s.title, 400, escapeCardMarkdown),
      wrap: true,
      weight: "Bolder",
      size: "Medium",
      style: "heading",
      color: COLOUR[s.outcome],
    },
  ];
  if (s.reason !== "") {
    body.push({ type: "TextBlock", text: fit(s.reason, 4000, escapeCardMarkdown), wrap: true });
  }
  body.push({
    type: "FactSet",
    facts: s.facts.map((f) => ({ title: f.label, value: fit(f.value, 1000, escapeCardMarkdown) })),
  });
  const footer = s.rolloutId === null ? s.at : `rollout ${s.rolloutId} · ${s.at}`;
  body.push({
    type: "TextBlock",
    text: escapeCardMarkdown(footer),
    wrap: true,
    size: "Small",
    isSubtle: true,
  });
  return {
    type: "message",
    attachments: [
      {
        contentType: "application/vnd.microsoft.card.adaptive",
        contentUrl: null,
        content: {
          $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
          type: "AdaptiveCard",
          version: "1.4",
          msteams: { width: "Full" },
          body,
        },
      },
    ],
  };
}
