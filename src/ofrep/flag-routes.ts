/**
 * Aviary's own routes on the OFREP listener, beside OFREP's (which has neither): the flag set
 * for in-process evaluation, `GET /aviary/v1/flags`, and the tracking endpoint,
 * `POST /aviary/v1/flags/track`, through which applications report exposures and events per
 * variant for the analysis. Both take a client key, as OFREP does.
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import type { FlagSet } from "../flags/served.js";
import {
  applyBatch,
  type BatchLimits,
  checkBatch,
  DEFAULT_BATCH_LIMITS,
} from "../tracking/batch.js";
import type { FlagWindows } from "../tracking/windows.js";
import { checkClientKey, issueTicket, type KeyCheck } from "./keys.js";
import { CHANGES_PATH, type OfrepOptions, readJson, refuse, send, sendTagged } from "./server.js";

export const AVIARY_FLAGS_PATH = "/aviary/v1/flags";
export const TRACK_PATH = "/aviary/v1/flags/track";

export interface TrackingOptions {
  windows: FlagWindows;
  limits?: Partial<BatchLimits>;
  /** Largest tracking body (default 256 KiB: a full batch of 1,000 items fits). */
  maxBodyBytes?: number;
}

/** Whether `path` is one of these routes. */
export function isFlagRoute(path: string): boolean {
  return path === AVIARY_FLAGS_PATH || path === TRACK_PATH;
}

export async function handleFlagRoute(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  opts: OfrepOptions,
  /** The listener's rate limit: false once it has answered 429. */
  admit: (who: KeyCheck) => boolean,
): Promise<void> {
  const method = path === TRACK_PATH ? "POST" : "GET";
  if (req.method !== method) {
    res.setHeader("allow", `${method}, OPTIONS`);
    return send(res, 405, { errorDetails: `${req.method} ${path}: use ${method}` });
  }
  const who = checkClientKey(opts.tokens, req.headers);
  if (!admit(who)) return;
  if (!who.ok) return refuse(res, who.status);
  if (path === AVIARY_FLAGS_PATH) return flagSet(req, res, opts, who.identity.name);
  return track(req, res, opts);
}

/**
 * The served flags' definitions for in-process evaluation, with the change stream (a ticket
 * for the key, as the bulk OFREP answer gives). A strong ETag over the answer: a provider
 * polling with If-None-Match gets a 304 until the flags (or the hourly ticket) change.
 */
function flagSet(req: IncomingMessage, res: ServerResponse, opts: OfrepOptions, key: string): void {
  sendTagged(req, res, setText(opts.flags.current, opts, key));
}

/** The set's definitions as JSON, made once per revision; the ticket is added per key. */
const definitions = new WeakMap<FlagSet, string>();

function setText(set: FlagSet, opts: OfrepOptions, key: string): string {
  let flags = definitions.get(set);
  if (flags === undefined) {
    // A client evaluates what the flag serves now; the strategy that got it there is the
    // controller's, and next to the step's percent (or an ended rollout) it would not parse.
    flags = JSON.stringify(
      [...set.flags.values()].map(({ flag: { strategy: _strategy, ...served } }) => served),
    );
    definitions.set(set, flags);
  }
  const ticket = issueTicket(opts.tokens, key, opts.clock.now());
  const streams =
    ticket === undefined
      ? []
      : [
          {
            type: "sse",
            endpoint: { requestUri: `${CHANGES_PATH}?ticket=${encodeURIComponent(ticket)}` },
          },
        ];
  return `{"revision":${set.revision},"flags":${flags},"eventStreams":${JSON.stringify(streams)}}`;
}

async function track(req: IncomingMessage, res: ServerResponse, opts: OfrepOptions): Promise<void> {
  const tracking = opts.tracking;
  if (tracking === undefined)
    return send(res, 404, { errorDetails: "this instance does not take tracking events" });
  const body = await readJson(req, res, tracking.maxBodyBytes ?? 262_144);
  if (body === undefined) return;
  if (!body.ok) return send(res, 400, { at: "body", errorDetails: body.failure.errorDetails });
  const checked = checkBatch(body.value, opts.flags.current, tracking.windows, {
    ...DEFAULT_BATCH_LIMITS,
    ...tracking.limits,
  });
  if (!checked.ok) return send(res, 400, { at: checked.at, errorDetails: checked.message });
  applyBatch(checked.items, tracking.windows);
  const answer = {
    accepted: checked.items.length,
    refusedCount: checked.refused.length,
    refused: checked.refused,
  };
  // Nothing counted at all is the client's mistake, said as one: a 422 naming each item.
  send(res, checked.items.length === 0 ? 422 : 200, answer);
}
