/**
 * A Discord webhook message: `content` (the one line push notifications show) and one embed
 * with the title, the reason as description, a colour by outcome (red for an abort, green for
 * a promotion, grey otherwise), the facts as inline fields and the event's time.
 *
 * Discord reads Markdown in content, descriptions and field values, so event text is
 * backslash-escaped; `allowed_mentions` is empty, so no reason text can ping `@everyone` or
 * a role. Lengths stay within Discord's embed limits (title 256, description 4096, field
 * value 1024, 6000 in all).
 *
 * @module
 */

import type { RolloutEvent } from "../../rollout/types.js";
import { type FormatContext, fit, type Outcome, summarize } from "./summary.js";

/** Escapes Discord Markdown so text shows as written. */
export function escapeDiscord(text: string): string {
  return text
    .replace(/[\\*_~`|<>[\]#]/g, "\\$&")
    .replace(/^(\s*)([-+]|\d+\.)/gm, (_m, space: string, marker: string) =>
      marker.endsWith(".") ? `${space}${marker.slice(0, -1)}\\.` : `${space}\\${marker}`,
    );
}

export const DISCORD_COLOURS: Record<Outcome, number> = {
  failure: 0xed4245,
  success: 0x57f287,
  neutral: 0x99aab5,
};

export interface DiscordMessage {
  content: string;
  embeds: Array<{
    title: string;
    description?: string;
    color: number;
    fields: Array<{ name: string; value: string; inline: boolean }>;
    timestamp: string;
    footer?: { text: string };
  }>;
  allowed_mentions: { parse: [] };
}

export function discordBody(event: RolloutEvent, ctx: FormatContext): DiscordMessage {
  const s = summarize(event, ctx);
  const embed: DiscordMessage["embeds"][number] = {
    title: fit(s.title, 256, escapeDiscord),
    color: DISCORD_COLOURS[s.outcome],
    fields: s.facts.map((f) => ({
      name: f.label,
      value: fit(f.value, 1024, escapeDiscord),
      inline: true,
    })),
    timestamp: s.at,
  };
  // 3500 rather than 4096 keeps the whole embed under Discord's 6000 with the fields.
  if (s.reason !== "") embed.description = fit(s.reason, 3500, escapeDiscord);
  if (s.rolloutId !== null) embed.footer = { text: `rollout ${s.rolloutId}` };
  return {
    content: fit(s.title, 2000, escapeDiscord),
    embeds: [embed],
    allowed_mentions: { parse: [] },
  };
}
