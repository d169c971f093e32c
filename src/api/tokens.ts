/**
 * Who a bearer token belongs to: the operator token plus every line of the tokens file, kept
 * as SHA-256 hashes only and compared in constant time against every entry, so the time a
 * check takes says nothing about which entry matched, or how close a guess came.
 *
 * The tokens file is watched without a restart: at most once a second (on the injectable
 * clock) a check stats it, and re-reads it when its inode, size or times changed. A file that
 * changed again while being read is left for the next check, and one that does not parse keeps
 * the previous tokens in force (logged with file:line), so a half-written or broken edit never
 * locks everyone out. A deleted file revokes all of its tokens.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import type { Clock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { OPERATOR_NAME, parseTokensFile, type Role, type TokenEntry } from "./tokens-file.js";

/** Whom an accepted token names. */
export interface Identity {
  name: string;
  role: Role;
}

export interface TokenRegistryOptions {
  /** The operator token itself (from AVIARY_TOKEN or the data directory). */
  operatorToken: string;
  /** The tokens file, absolute or relative to the working directory. */
  file: string;
  clock: Clock;
  log: Logger;
  /** How often, at most, the file is looked at again (default 1 s). */
  recheckMs?: number;
  /**
   * Tokens that live only as long as this process, never in the file (`serve --workers`: the
   * workers' router token, made at start and handed to them over the IPC channel).
   */
  runTokens?: ReadonlyArray<{ token: string; identity: Identity }>;
}

interface Known {
  hash: Buffer;
  identity: Identity;
}

export class TokenRegistry {
  readonly file: string;
  readonly #operator: Known;
  readonly #run: Known[];
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #recheckMs: number;
  #fromFile: Known[] = [];
  #stamp: string;
  #checkedAt: number;

  /** Reads the tokens file now; throws TokensFileError (file:line) when it cannot be used. */
  constructor(opts: TokenRegistryOptions) {
    this.file = opts.file;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#recheckMs = opts.recheckMs ?? 1_000;
    this.#operator = {
      hash: sha256(opts.operatorToken),
      identity: { name: OPERATOR_NAME, role: "operator" },
    };
    this.#run = (opts.runTokens ?? []).map((t) => ({
      hash: sha256(t.token),
      identity: t.identity,
    }));
    this.#stamp = stampOf(this.file);
    this.#fromFile = known(parseTokensFile(readOrEmpty(this.file), this.file));
    this.#checkedAt = this.#clock.now();
  }

  /** Tokens the file holds right now (the operator token aside). */
  get fileTokens(): number {
    return this.#fromFile.length;
  }

  /** Whose token this is, or undefined when it is no (longer a) known token. */
  identify(token: string): Identity | undefined {
    this.#recheck();
    const presented = sha256(token);
    let found: Identity | undefined;
    // Every entry is compared, match or not: no early exit to time.
    for (const k of [this.#operator, ...this.#run, ...this.#fromFile]) {
      if (timingSafeEqual(k.hash, presented) && found === undefined) found = k.identity;
    }
    return found;
  }

  /**
   * The stored hashes of the client keys named `name` (several lines may share a name): what
   * an OFREP change-stream ticket is signed with, so a ticket dies with its key.
   */
  clientKeyHashes(name: string): Buffer[] {
    this.#recheck();
    return this.#fromFile
      .filter((k) => k.identity.role === "client" && k.identity.name === name)
      .map((k) => k.hash);
  }

  #recheck(): void {
    const now = this.#clock.now();
    if (now - this.#checkedAt < this.#recheckMs) return;
    this.#checkedAt = now;
    const stamp = stampOf(this.file);
    if (stamp === this.#stamp) return;
    let text: string;
    try {
      text = readOrEmpty(this.file);
    } catch (err) {
      this.#log.error(
        { file: this.file, problem: (err as Error).message },
        "cannot read the tokens file; the previous tokens stay in force",
      );
      return;
    }
    // Changed while being read (not written by `aviary token`, which renames): next time.
    if (stampOf(this.file) !== stamp) return;
    this.#stamp = stamp;
    try {
      this.#fromFile = known(parseTokensFile(text, this.file));
      this.#log.info({ file: this.file, tokens: this.#fromFile.length }, "tokens file re-read");
    } catch (err) {
      this.#log.error(
        { problem: (err as Error).message },
        "tokens file not applied; the previous tokens stay in force",
      );
    }
  }
}

function sha256(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

function known(entries: readonly TokenEntry[]): Known[] {
  return entries.map((e) => ({
    hash: Buffer.from(e.hash, "hex"),
    identity: { name: e.name, role: e.role },
  }));
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
}

/** What changes when the file does: a rename gives a new inode, an edit new times or size. */
function stampOf(file: string): string {
  const s = statSync(file, { throwIfNoEntry: false, bigint: true });
  return s === undefined ? "missing" : `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}
