/**
 * The `X-Aviary-Signature` header, in Stripe's scheme: `t=<unix seconds>,v1=<hex>`, where the
 * hex is HMAC-SHA256 of `"<t>.<raw body>"` under the shared secret. Signing the timestamp with
 * the body lets a receiver refuse replays: a captured request stops verifying once its
 * timestamp is older than the receiver's tolerance. Retries are signed afresh at each attempt
 * for the same reason.
 *
 * A header may carry several `v1=` values (while a receiver rotates keys, say); one matching
 * is enough.
 *
 * @module
 */

import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "x-aviary-signature";

/** How far a signature's timestamp may lie from the receiver's clock, either way. */
export const DEFAULT_TOLERANCE_MS = 5 * 60_000;

export type VerifyResult = { ok: true } | { ok: false; reason: string };

function hmacHex(secret: string, t: number, body: string | Uint8Array): string {
  const mac = createHmac("sha256", secret);
  mac.update(`${t}.`);
  mac.update(body);
  return mac.digest("hex");
}

/** The `X-Aviary-Signature` value for a body sent at `nowMs`. */
export function sign(secret: string, body: string | Uint8Array, nowMs: number): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${hmacHex(secret, t, body)}`;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/**
 * Checks a received `X-Aviary-Signature` against the raw body as received (before any JSON
 * parsing: re-serialising changes the bytes). The comparison takes the same time whatever
 * the bytes, so it leaks nothing about the expected value.
 */
export function verifySignature(
  secret: string,
  header: string | undefined,
  body: string | Uint8Array,
  nowMs: number,
  toleranceMs: number = DEFAULT_TOLERANCE_MS,
): VerifyResult {
  if (header === undefined || header.trim() === "") {
    return { ok: false, reason: "no signature header" };
  }
  let t: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) return { ok: false, reason: "malformed signature header" };
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t") {
      if (!/^\d{1,15}$/.test(value)) return { ok: false, reason: "malformed timestamp" };
      t = Number(value);
    } else if (key === "v1") {
      candidates.push(value.toLowerCase());
    }
    // Other schemes (a future v2) are ignored, as Stripe's receivers do.
  }
  if (t === undefined) return { ok: false, reason: "no timestamp in signature header" };
  if (candidates.length === 0) return { ok: false, reason: "no v1 signature in header" };
  const skew = nowMs - t * 1000;
  if (skew > toleranceMs) return { ok: false, reason: "timestamp too old (possible replay)" };
  if (-skew > toleranceMs) return { ok: false, reason: "timestamp in the future" };
  const expected = Buffer.from(hmacHex(secret, t, body), "hex");
  let match = false;
  for (const candidate of candidates) {
    if (!HEX_SHA256.test(candidate)) continue;
    // Every candidate is compared, so timing says nothing about which one matched.
    if (timingSafeEqual(expected, Buffer.from(candidate, "hex"))) match = true;
  }
  return match ? { ok: true } : { ok: false, reason: "signature does not match" };
}
