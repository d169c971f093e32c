/**
 * Errors any Store implementation throws, so callers (the controller, the API) branch on one
 * class or code whichever database sits behind the interface.
 *
 * @module
 */

import { AviaryError } from "../errors.js";

/**
 * A rollout write based on a revision that is no longer the stored one: someone else (another
 * process, or a second controller pass) wrote the rollout since it was read. Nothing was written;
 * re-read the rollout and decide again.
 */
export class StaleWriteError extends AviaryError {
  readonly rolloutId: string;
  /** The revision the refused write carried. */
  readonly revision: number;
  /** The revision in the store when the write was refused; null if the rollout does not exist. */
  readonly storedRevision: number | null;

  constructor(rolloutId: string, revision: number, storedRevision: number | null) {
    const wanted =
      revision === 1
        ? "revision 1 creates a rollout"
        : `revision ${revision} must follow stored revision ${revision - 1}`;
    const found =
      storedRevision === null
        ? "no such rollout is stored"
        : `the stored revision is ${storedRevision}`;
    super(
      "AVIARY_STORE_STALE_WRITE",
      `rollout ${rolloutId}: ${wanted}, but ${found}; nothing was written: re-read the rollout and retry`,
    );
    this.name = "StaleWriteError";
    this.rolloutId = rolloutId;
    this.revision = revision;
    this.storedRevision = storedRevision;
  }
}

/** The database could not be opened or prepared (missing directory, not a database, locked...). */
export class StoreOpenError extends AviaryError {
  constructor(where: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super("AVIARY_STORE_OPEN", `cannot open the Aviary database ${where}: ${why}`, { cause });
    this.name = "StoreOpenError";
  }
}

/**
 * The database was written by a newer Aviary (its schema version is higher than any this build
 * knows). Refused without writing, because this build could misread or damage it.
 */
export class SchemaTooNewError extends AviaryError {
  readonly found: number;
  readonly known: number;

  constructor(where: string, found: number, known: number) {
    super(
      "AVIARY_STORE_SCHEMA_TOO_NEW",
      `the Aviary database ${where} has schema version ${found}, but this Aviary knows versions up to ${known}; it was written by a newer Aviary: upgrade Aviary, or point it at another database`,
    );
    this.name = "SchemaTooNewError";
    this.found = found;
    this.known = known;
  }
}

/** A measurement for an analysis run the store does not have. Nothing was written. */
export class UnknownAnalysisRunError extends AviaryError {
  constructor(runId: string) {
    super(
      "AVIARY_STORE_UNKNOWN_RUN",
      `no analysis run ${runId}: put the run before its measurements`,
    );
    this.name = "UnknownAnalysisRunError";
  }
}

/**
 * The database file exists but holds no Aviary store: it is empty (0 bytes), not a SQLite
 * database, or a SQLite database without Aviary's schema. Refused without writing: starting a
 * fresh store over it would silently lose the history and restart every rollout, and a file
 * that is someone else's is not Aviary's to change. `initStore` (`aviary serve --init-store`)
 * starts a fresh store over an empty file or adds Aviary's tables to a foreign SQLite file.
 */
export class StoreNotAviaryError extends AviaryError {
  constructor(where: string, what: string, remedy: string) {
    super(
      "AVIARY_STORE_NOT_AVIARY",
      `${where} ${what}: refusing to start a fresh store over it (history would be lost and rollouts restarted); ${remedy}`,
    );
    this.name = "StoreNotAviaryError";
  }
}
