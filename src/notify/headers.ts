/**
 * The headers every outgoing Aviary call carries (notifications and gate hooks alike), so a
 * receiver handles both the same way: what happened, which delivery this is (the same id on
 * every retry, for de-duplication), who sends it, and the signature when a secret is set.
 *
 * @module
 */

import { VERSION } from "../version.js";
import { SIGNATURE_HEADER, sign } from "./signature.js";

export const EVENT_HEADER = "x-aviary-event";
export const DELIVERY_HEADER = "x-aviary-delivery";
export const USER_AGENT = `aviary/${VERSION}`;

export interface OutgoingCall {
  /** What the call is about: an event name (`aborted`) or `gate.<type>`. */
  event: string;
  /** Unique per delivery, repeated unchanged on retries. */
  deliveryId: string;
  /** The exact bytes sent; the signature covers them. */
  body: string;
  secret?: string | undefined;
  /** When this attempt is made (epoch ms): the signature's timestamp. */
  now: number;
}

export function outgoingHeaders(call: OutgoingCall): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    [EVENT_HEADER]: call.event,
    [DELIVERY_HEADER]: call.deliveryId,
  };
  if (call.secret !== undefined) headers[SIGNATURE_HEADER] = sign(call.secret, call.body, call.now);
  return headers;
}
