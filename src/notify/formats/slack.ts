/**
 * A Slack incoming-webhook message: `text` (what notifications and screen readers show) and
 * Block Kit `blocks`: a header, the facts as section fields, and a context line with the
 * rollout id and the time in the reader's own time zone.
 *
 * Slack's mrkdwn reserves `&`, `<` and `>` (`<...>` is a link or a mention), so every piece of
 * event text is HTML-escaped before it goes into a mrkdwn field; `plain_text` is shown as is.
 * Lengths are kept within Block Kit's limits (header 150, field 2000, text 3000).
 *
 * @module
 */

import type { RolloutEvent } from "../../rollout/types.js";
import { type FormatContext, fit, type Outcome, summarize } from "./summary.js";

/** Escapes the three characters Slack's mrkdwn reserves. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const EMOJI: Record<Outcome, string> = {
  failure: ":x: ",
  success: ":white_check_mark: ",
  neutral: "",
};

interface MrkdwnText {
  type: "mrkdwn";
  text: string;
}

export interface SlackMessage {
  text: string;
  blocks: Array<
    | { type: "header"; text: { type: "plain_text"; text: string; emoji: true } }
    | { type: "section"; fields: MrkdwnText[] }
    | { type: "context"; elements: MrkdwnText[] }
  >;
}

export function slackBody(event: RolloutEvent, ctx: FormatContext): SlackMessage {
  const s = summarize(event, ctx);
  const fields: MrkdwnText[] = s.facts.map((f) => ({
    type: "mrkdwn",
    text: `*${f.label}*\n${fit(f.value, 1900, escapeMrkdwn)}`,
  }));
  if (s.reason !== "") {
    fields.push({ type: "mrkdwn", text: `*Reason*\n${fit(s.reason, 1900, escapeMrkdwn)}` });
  }
  const unix = Math.floor(event.at / 1000);
  // <!date^...|fallback> shows the time in each reader's zone; the fallback is the ISO text.
  const when = `<!date^${unix}^{date_short_pretty} {time_secs}|${s.at}>`;
  const context = s.rolloutId === null ? when : `rollout ${escapeMrkdwn(s.rolloutId)} · ${when}`;
  const summaryLine = s.reason === "" ? s.title : `${s.title}: ${s.reason}`;
  return {
    text: fit(summaryLine, 3000, escapeMrkdwn),
    blocks: [
      {
        type: "header",
        text: { type: "plain_text", text: fit(`${EMOJI[s.outcome]}${s.title}`, 150), emoji: true },
      },
      { type: "section", fields },
      { type: "context", elements: [{ type: "mrkdwn", text: context }] },
    ],
  };
}
