/**
 * What the admin server accepts as a request body: JSON and nothing else. Fastify's default
 * parsers are removed (it would otherwise parse `text/plain` into a string and hand it to the
 * route), and one parser takes `application/json` and `application/*+json`, in UTF-8 only.
 * Any other Content-Type, or a body without one, is a 415 before the route runs.
 *
 * A parsed body is checked before any route sees it: nested at most {@link MAX_JSON_DEPTH}
 * levels (a schema walking a deep value recurses), and no `__proto__` key, nor `constructor`
 * holding `prototype`, anywhere (harmless to JSON.parse, dangerous to any later merge).
 *
 * GET and HEAD never read a body (Fastify does not parse one for them): a body sent with
 * them is ignored, as HTTP gives it no meaning there.
 *
 * @module
 */

import type { FastifyInstance } from "fastify";
import { AviaryError } from "../errors.js";

/** What a 415 tells the client to send instead. */
export const ACCEPTED_BODY = "application/json (or application/*+json), in UTF-8";

/** Deeper than any spec or command body; far below what recursion in a validator survives. */
export const MAX_JSON_DEPTH = 64;

/** application/json and any application/<something>+json, with or without parameters. */
const JSON_TYPES = [/^application\/json(?:;|$)/, /^application\/[a-z0-9!#$&^_.-]+\+json(?:;|$)/];

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

export class UnsupportedBodyError extends AviaryError {
  constructor(detail: string) {
    super("AVIARY_UNSUPPORTED_MEDIA_TYPE", detail);
  }
}

/** Replaces Fastify's body parsers with the one JSON parser. */
export function installJsonBody(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  for (const type of JSON_TYPES) {
    app.addContentTypeParser(type, { parseAs: "string" }, (req, body, done) => {
      try {
        const charset = CHARSET.exec(req.headers["content-type"] ?? "")?.[1]?.toLowerCase();
        if (charset !== undefined && charset !== "utf-8" && charset !== "utf8")
          throw new UnsupportedBodyError(
            `the body's charset is ${charset.slice(0, 40)}; send it as ${ACCEPTED_BODY}`,
          );
        done(null, parseJsonBody(body as string));
      } catch (err) {
        done(err as Error, undefined);
      }
    });
  }
}

/** JSON.parse, then the depth and key checks; every refusal is a 400 naming `body`. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === "")
    throw new AviaryError("AVIARY_BAD_REQUEST", "body: empty, but Content-Type says JSON");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AviaryError("AVIARY_BAD_REQUEST", "body: not valid JSON");
  }
  checkJsonValue(value);
  return value;
}

/**
 * Walks a parsed value without recursion (so the walk itself cannot overflow the stack) and
 * refuses what must not reach a route.
 */
export function checkJsonValue(value: unknown): void {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 0 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { v, depth } = item;
    if (v === null || typeof v !== "object") continue;
    if (depth >= MAX_JSON_DEPTH)
      throw new AviaryError(
        "AVIARY_BAD_REQUEST",
        `body: nested more than ${MAX_JSON_DEPTH} levels deep`,
      );
    if (Array.isArray(v)) {
      for (const e of v) stack.push({ v: e, depth: depth + 1 });
      continue;
    }
    for (const [key, child] of Object.entries(v)) {
      if (key === "__proto__")
        throw new AviaryError("AVIARY_BAD_REQUEST", "body: the key __proto__ is not allowed");
      if (
        key === "constructor" &&
        child !== null &&
        typeof child === "object" &&
        Object.hasOwn(child, "prototype")
      )
        throw new AviaryError(
          "AVIARY_BAD_REQUEST",
          "body: the key constructor holding prototype is not allowed",
        );
      stack.push({ v: child, depth: depth + 1 });
    }
  }
}
