/**
 * Bearer-token authentication for the admin API. Tokens are kept only as SHA-256 hashes and
 * compared in constant time; the operator token is read from AVIARY_TOKEN or from a file in
 * the data directory, created (mode 0600) on first start.
 *
 * @module
 */

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const TOKEN_FILE = "operator-token";

export class TokenCheck {
  readonly #hashes: Buffer[];

  constructor(tokens: readonly string[]) {
    this.#hashes = tokens.map(hash);
  }

  /** True when the Authorization header carries one of the tokens. */
  allows(authorization: string | undefined): boolean {
    if (authorization === undefined) return false;
    const m = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (m === null) return false;
    const presented = hash(m[1] as string);
    // Compare against every token so the time taken says nothing about which one matched.
    let ok = false;
    for (const h of this.#hashes) ok = timingSafeEqual(h, presented) || ok;
    return ok;
  }
}

function hash(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/**
 * The operator token: AVIARY_TOKEN if set, else the data directory's token file, created with
 * a fresh random token when missing. Returns where it came from, never logging the token.
 */
export function loadOperatorToken(
  dataDir: string,
  env = process.env,
): { token: string; source: string } {
  const fromEnv = env.AVIARY_TOKEN;
  if (fromEnv !== undefined && fromEnv !== "") return { token: fromEnv, source: "AVIARY_TOKEN" };
  const file = join(dataDir, TOKEN_FILE);
  if (existsSync(file)) return { token: readFileSync(file, "utf8").trim(), source: file };
  const token = randomBytes(24).toString("base64url");
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: "wx" });
  return { token, source: file };
}
