/**
 * Event → request body, for each notification format. Pure functions: the same event and
 * context always make the same body.
 *
 * @module
 */

import type { RolloutEvent } from "../../rollout/types.js";
import type { Notification } from "../../spec/notify.js";
import { discordBody } from "./discord.js";
import { jsonBody } from "./json.js";
import { slackBody } from "./slack.js";
import type { FormatContext } from "./summary.js";
import { teamsBody } from "./teams.js";

export type { FormatContext } from "./summary.js";

export function formatBody(
  format: Notification["format"],
  event: RolloutEvent,
  ctx: FormatContext,
): unknown {
  switch (format) {
    case "json":
      return jsonBody(event, ctx);
    case "slack":
      return slackBody(event, ctx);
    case "teams":
      return teamsBody(event, ctx);
    case "discord":
      return discordBody(event, ctx);
  }
}
