/**
 * Who may evaluate flags: a client key (the `client` role of the tokens file), sent as
 * `Authorization: Bearer <key>` or `X-API-Key: <key>`. Every other role is refused here, as
 * a client key is refused on the admin API: a key that ships inside apps and web pages opens
 * nothing else, and the operator's token never has to.
 *
 * A browser's EventSource cannot send headers, so the change stream is opened with a ticket
 * in its URL instead of the key: `<name>.<window>.<HMAC-SHA256>` signed with the key's stored
 * hash, which every instance reading the same tokens file holds, so a ticket one instance gave
 * opens the stream on any other, and dies with its key. A ticket is good for the hour window
 * it names and the next; it is the same string all that time, so the bulk response (and its
 * ETag) stays the same for an unchanged flag set.
 *
 * @module
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Identity, TokenRegistry } from "../api/tokens.js";

export const TICKET_WINDOW_MS = 3_600_000;

export type KeyCheck =
  | { ok: true; identity: Identity }
  | { ok: false; status: 401 | 403; why: string };

/** The key a request presents, or undefined. A malformed Authorization header counts as none. */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const api = headers["x-api-key"];
  if (typeof api === "string" && api !== "") return api.trim();
  const auth = headers.authorization;
  if (auth === undefined) return undefined;
  return /^Bearer +(\S+) *$/i.exec(auth)?.[1];
}

/** Whether the request's key is a client key. */
export function checkClientKey(tokens: TokenRegistry, headers: IncomingHttpHeaders): KeyCheck {
  const key = presentedKey(headers);
  if (key === undefined)
    return { ok: false, status: 401, why: "no Authorization: Bearer or X-API-Key" };
  const who = tokens.identify(key);
  if (who === undefined) return { ok: false, status: 401, why: "unknown key" };
  if (who.role !== "client")
    return { ok: false, status: 403, why: `the token '${who.name}' has the ${who.role} role` };
  return { ok: true, identity: who };
}

function sign(hash: Buffer, name: string, window: number): string {
  return createHmac("sha256", hash).update(`${name}.${window}`).digest("base64url");
}

/** A change-stream ticket for the client key `name`, or undefined when it has none. */
export function issueTicket(tokens: TokenRegistry, name: string, now: number): string | undefined {
  const hash = tokens.clientKeyHashes(name)[0];
  if (hash === undefined) return undefined;
  const window = Math.floor(now / TICKET_WINDOW_MS);
  return `${name}.${window}.${sign(hash, name, window)}`;
}

/** The client key a ticket was issued for, if it is still good. */
export function checkTicket(
  tokens: TokenRegistry,
  ticket: string,
  now: number,
): string | undefined {
  const m = /^([A-Za-z0-9][A-Za-z0-9._@-]{0,63})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(ticket);
  if (m === null) return undefined;
  const [, name, w, mac] = m as unknown as [string, string, string, string];
  const window = Number(w);
  const current = Math.floor(now / TICKET_WINDOW_MS);
  if (window !== current && window !== current - 1) return undefined;
  const given = Buffer.from(mac, "base64url");
  let good = false;
  for (const hash of tokens.clientKeyHashes(name)) {
    const want = Buffer.from(sign(hash, name, window), "base64url");
    if (want.length === given.length && timingSafeEqual(want, given)) good = true;
  }
  return good ? name : undefined;
}
