/**
 * Reading the secrets the spec names ({@link SecretRef}: an environment variable or a file).
 * The spec never holds a secret itself; it says where one lives, and it is read here.
 *
 * Errors name the variable or the path, never what was (or was not) found there, so they can
 * be shown and logged as they are.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { AviaryError } from "../errors.js";
import type { SecretRef } from "../spec/notify.js";

/** The environment secrets are read from (process.env unless a test says otherwise). */
export type Env = Readonly<Record<string, string | undefined>>;
export type ReadFile = (path: string) => string;

const readUtf8: ReadFile = (path) => readFileSync(path, "utf8");

/**
 * The secret a SecretRef names, with surrounding whitespace removed (files usually end in a
 * newline). An unset variable, an unreadable file or an empty secret throws an AviaryError
 * (`AVIARY_SECRET_MISSING`) naming the variable or path.
 */
export function readSecret(
  ref: SecretRef,
  env: Env = process.env,
  readFile: ReadFile = readUtf8,
): string {
  if (ref.env !== undefined) {
    const value = env[ref.env];
    if (value === undefined) {
      throw new AviaryError("AVIARY_SECRET_MISSING", `environment variable ${ref.env} is not set`);
    }
    const trimmed = value.trim();
    if (trimmed === "") {
      throw new AviaryError("AVIARY_SECRET_MISSING", `environment variable ${ref.env} is empty`);
    }
    return trimmed;
  }
  if (ref.file !== undefined) {
    let text: string;
    try {
      text = readFile(ref.file);
    } catch (err) {
      // The code (ENOENT, EACCES) says enough; fs messages are not needed to act on it.
      const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
      throw new AviaryError(
        "AVIARY_SECRET_MISSING",
        `cannot read secret file ${ref.file} (${code})`,
        { cause: err },
      );
    }
    const trimmed = text.trim();
    if (trimmed === "") {
      throw new AviaryError("AVIARY_SECRET_MISSING", `secret file ${ref.file} is empty`);
    }
    return trimmed;
  }
  // The schema refuses this; a hand-built ref could still reach here.
  throw new AviaryError("AVIARY_SECRET_MISSING", "a secret reference names neither env nor file");
}
