/**
 * The tokens file: who besides the operator token may use the admin API, and with which role.
 * One token per line, `sha256:<64 hex> <role> <name> [created]`; `#` comments and blank lines
 * are allowed. Only a token's SHA-256 is kept, so the file gives no token away; it is still
 * written 0600, since who holds which role is nobody else's business.
 *
 * `aviary token` edits it under a lock file and replaces it by renaming a complete temporary
 * file over it, so a server re-reading it never sees half a file.
 *
 * @module
 */

import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { AviaryError } from "../errors.js";

/**
 * read-only: GET and HEAD under /api/. operator: everything. router: an `aviary router`, which
 * may read the fleet state and post its reports, and nothing else. client: an application's
 * OpenFeature SDK, which may evaluate flags on the OFREP listener and nothing else (the key
 * ships inside apps and web pages, so it opens nothing of the admin API).
 */
export const ROLES = ["read-only", "operator", "router", "client"] as const;
export type Role = (typeof ROLES)[number];

/** The name the operator token (AVIARY_TOKEN or the data directory's operator-token) goes by. */
export const OPERATOR_NAME = "operator";

/** Token names end up in actors (`operator:<name>`) and history lines: keep them plain. */
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const HASH = /^sha256:([0-9a-fA-F]{64})$/;

export const TOKENS_FILE_HEADER = [
  "# Aviary admin API tokens, written by `aviary token`: one per line,",
  "#   sha256:<hex SHA-256 of the token> <read-only|operator|router|client> <name> [created]",
  "# Only hashes are kept; a token is shown once, when it is created.",
].join("\n");

export interface TokenEntry {
  /** Lowercase hex SHA-256 of the token. */
  hash: string;
  role: Role;
  name: string;
  /** ISO timestamp, when the line has one. */
  created: string | null;
  /** 1-based line in the file. */
  line: number;
}

/** A line of the tokens file Aviary cannot use; the message starts with `file:line:`. */
export class TokensFileError extends AviaryError {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, problem: string) {
    super("AVIARY_TOKENS_INVALID", `${file}:${line}: ${problem}`);
    this.file = file;
    this.line = line;
  }
}

/** Lowercase hex SHA-256, as the tokens file stores it. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** A fresh token: 32 random bytes, base64url (43 characters). */
export function generateToken(): string {
  return randomBytes(32).toString("base64url");
}

export function checkRole(role: string, where: string): Role {
  if ((ROLES as readonly string[]).includes(role)) return role as Role;
  throw new AviaryError(
    "AVIARY_BAD_REQUEST",
    `${where}: role must be read-only, operator, router or client`,
  );
}

/** Why a name cannot be a token name, or undefined when it can. */
export function tokenNameProblem(name: string): string | undefined {
  if (!TOKEN_NAME.test(name))
    return "a token name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit";
  if (name === OPERATOR_NAME)
    return `the name ${OPERATOR_NAME} belongs to the operator token (AVIARY_TOKEN or the data directory's operator-token)`;
  return undefined;
}

/**
 * Every entry of the file's text. Throws {@link TokensFileError} at the first line it cannot
 * use. The messages never quote the hash field: someone may have pasted a token there.
 */
export function parseTokensFile(text: string, file: string): TokenEntry[] {
  const entries: TokenEntry[] = [];
  const byName = new Map<string, number>();
  const byHash = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const content = raw.trim();
    if (content === "" || content.startsWith("#")) return;
    const fields = content.split(/\s+/);
    if (fields.length < 3 || fields.length > 4) {
      throw new TokensFileError(
        file,
        line,
        `expected 'sha256:<64 hex digits> <read-only|operator|router|client> <name> [created]', found ${fields.length} field${fields.length === 1 ? "" : "s"}`,
      );
    }
    const [hashField, role, name, created] = fields as [string, string, string, string?];
    const hash = HASH.exec(hashField)?.[1]?.toLowerCase();
    if (hash === undefined)
      throw new TokensFileError(
        file,
        line,
        "the first field must be sha256: followed by the token's 64-hex-digit SHA-256 (never the token itself)",
      );
    if (!(ROLES as readonly string[]).includes(role)) {
      // Quoted only when it looks like a word: a misplaced token must not reach a log.
      const got = /^[A-Za-z-]{1,20}$/.test(role) ? `, got '${role}'` : "";
      throw new TokensFileError(
        file,
        line,
        `role must be read-only, operator, router or client${got}`,
      );
    }
    const nameProblem = tokenNameProblem(name);
    if (nameProblem !== undefined) throw new TokensFileError(file, line, nameProblem);
    if (created !== undefined && Number.isNaN(Date.parse(created)))
      throw new TokensFileError(file, line, "the created field must be an ISO date and time");
    const sameName = byName.get(name);
    if (sameName !== undefined)
      throw new TokensFileError(file, line, `this name is already used on line ${sameName}`);
    const sameHash = byHash.get(hash);
    if (sameHash !== undefined)
      throw new TokensFileError(file, line, `the same token is already listed on line ${sameHash}`);
    byName.set(name, line);
    byHash.set(hash, line);
    entries.push({ hash, role: role as Role, name, created: created ?? null, line });
  });
  return entries;
}

export function formatTokenLine(e: Omit<TokenEntry, "line">): string {
  return `sha256:${e.hash} ${e.role} ${e.name}${e.created === null ? "" : ` ${e.created}`}`;
}

/** The file's text and entries; a missing file is an empty one. */
export function readTokensFile(file: string): { text: string; entries: TokenEntry[] } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { text: "", entries: [] };
    throw new AviaryError(
      "AVIARY_TOKENS_UNREADABLE",
      `cannot read the tokens file ${file}: ${(err as Error).message}`,
    );
  }
  return { text, entries: parseTokensFile(text, file) };
}

/**
 * Rewrites the file with what `edit` returns for its current content, atomically: under
 * `<file>.lock` (so two edits cannot lose each other's line), through a temporary file
 * written 0600 and fsynced, then renamed over the file.
 */
export function editTokensFile(
  file: string,
  edit: (current: { text: string; entries: TokenEntry[] }) => string,
): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const lock = `${file}.lock`;
  const lockFd = acquireLock(lock);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const next = edit(readTokensFile(file));
    const fd = openSync(tmp, "wx", 0o600);
    try {
      fchmodSync(fd, 0o600); // whatever the umask says
      writeSync(fd, next);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
    closeSync(lockFd);
    rmSync(lock, { force: true });
  }
}

const LOCK_WAIT_MS = 3_000;

function acquireLock(lock: string): number {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      return openSync(lock, "wx", 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (Date.now() >= deadline) {
        throw new AviaryError(
          "AVIARY_TOKENS_LOCKED",
          `${lock} exists: another \`aviary token\` is editing the tokens file (remove the lock file if none is running)`,
        );
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
}
