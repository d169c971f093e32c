/**
 * Where the store is, from `aviary serve --store URL` or `AVIARY_STORE`: a `postgres://` URL for
 * several instances, or nothing for the SQLite file in the data directory. The URL may carry a
 * password: it is shown only with the password blotted out, and `AVIARY_STORE` keeps it off the
 * command line (where `ps` shows it to every user of the machine).
 *
 * @module
 */

import { AviaryError } from "../errors.js";

export interface StoreLocation {
  kind: "sqlite" | "postgres";
  /** The URL as given (secret: never log it). */
  url: string | undefined;
  /** The URL with its password replaced by `***`, for logs and messages. */
  shown: string;
}

/** Reads `--store` (wins) or `AVIARY_STORE`; `where` names the one used in errors. */
export function storeLocation(flag: string | undefined, env = process.env): StoreLocation {
  const where = flag !== undefined ? "--store" : "AVIARY_STORE";
  const given = flag ?? (env.AVIARY_STORE === "" ? undefined : env.AVIARY_STORE);
  if (given === undefined) return { kind: "sqlite", url: undefined, shown: "sqlite" };
  let parsed: URL;
  try {
    parsed = new URL(given);
  } catch {
    throw new AviaryError(
      "AVIARY_BAD_STORE",
      `${where}: not a URL; expected postgres://user@host:port/database`,
    );
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:")
    throw new AviaryError(
      "AVIARY_BAD_STORE",
      `${where}: ${parsed.protocol.replace(/:$/, "")} is not a store Aviary knows; expected postgres://user@host:port/database (or nothing, for SQLite in the data directory)`,
    );
  return { kind: "postgres", url: given, shown: redactUrl(given) };
}

/** The URL with any password replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "(not a URL)";
  }
}
