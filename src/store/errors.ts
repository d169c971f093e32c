/**
 * Errors any Store implementation throws, so callers (the controller, the API) branch on one
 * class or code whichever database sits behind the interface.
 *
 * @module
 */

import { AviaryError } from "../errors.js";

/** What a revisioned write was about: a rollout, a service's state, or the applied spec. */
export type RevisionedKind = "rollout" | "service" | "spec";

/**
 * A write based on a revision that is no longer the stored one: someone else (another process,
 * another instance, or a second controller pass) wrote the rollout, service or applied spec since
 * it was read. Nothing was written; re-read it and decide again.
 */
export class StaleWriteError extends AviaryError {
  /** What was written. */
  readonly kind: RevisionedKind;
  /** The rollout's id, the service's name, or "applied" for the spec. */
  readonly id: string;
  /** The revision the refused write carried. */
  readonly revision: number;
  /** The revision in the store when the write was refused; null if nothing is stored. */
  readonly storedRevision: number | null;

  constructor(kind: RevisionedKind, id: string, revision: number, storedRevision: number | null) {
    const what = kind === "spec" ? "the applied spec" : `${kind} ${id}`;
    const wanted =
      revision === 1
        ? `revision 1 creates ${kind === "spec" ? "the applied spec" : `a ${kind}`}`
        : `revision ${revision} must follow stored revision ${revision - 1}`;
    const found =
      storedRevision === null ? "none is stored" : `the stored revision is ${storedRevision}`;
    super(
      "AVIARY_STORE_STALE_WRITE",
      `${what}: ${wanted}, but ${found}; nothing was written: re-read ${kind === "spec" ? "it" : `the ${kind}`} and retry`,
    );
    this.name = "StaleWriteError";
    this.kind = kind;
    this.id = id;
    this.revision = revision;
    this.storedRevision = storedRevision;
  }
}

/**
 * A fenced write (`Store.fenced`) by an instance that no longer holds the lease with the epoch
 * it carried: another instance took over (or the lease expired or was released). The
 * transaction was rolled back; the writer must stop acting as the leader.
 */
export class FencedError extends AviaryError {
  readonly lease: string;
  readonly holder: string;
  /** The epoch the refused write carried. */
  readonly epoch: number;
  /** The lease as stored when the write was refused (undefined if it was never taken). */
  readonly current: { holder: string; epoch: number; expired: boolean } | undefined;

  constructor(
    lease: string,
    holder: string,
    epoch: number,
    current: { holder: string; epoch: number; expired: boolean } | undefined,
  ) {
    const now =
      current === undefined
        ? "nobody has ever held it"
        : current.holder === holder && current.epoch === epoch
          ? `its hold expired (epoch ${epoch}) and was not renewed`
          : `it is held by ${current.holder} with epoch ${current.epoch}${current.expired ? " (expired)" : ""}`;
    super(
      "AVIARY_STORE_FENCED",
      `lease ${lease}: ${holder} wrote with epoch ${epoch}, but ${now}; the transaction was rolled back: this instance is no longer the leader`,
    );
    this.name = "FencedError";
    this.lease = lease;
    this.holder = holder;
    this.epoch = epoch;
    this.current = current;
  }
}

/**
 * `store.transaction` (or any top-level store call) made inside a transaction of the same store.
 * The store runs one transaction at a time, so the inner call would wait for the outer forever;
 * use the `tx` the transaction function was given instead.
 */
export class NestedTransactionError extends AviaryError {
  constructor(operation: string) {
    super(
      "AVIARY_STORE_NESTED",
      `store.${operation} was called inside a transaction of the same store, where it would wait for that transaction forever: use the tx passed to the transaction function`,
    );
    this.name = "NestedTransactionError";
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

/**
 * A stored command's commit was refused: no command with that id is stored, or one of its
 * transactions already committed. The transaction that asked rolls back, so whatever leader
 * carries a command out, what it writes is in the store at most once.
 */
export class CommandCommitError extends AviaryError {
  readonly id: string;
  /** The commit already recorded; undefined when no such command is stored. */
  readonly committedAt: number | undefined;

  constructor(id: string, committedAt: number | undefined) {
    super(
      "AVIARY_STORE_COMMAND_COMMITTED",
      committedAt === undefined
        ? `command ${id}: no such stored command, so its commit cannot be recorded; nothing was written`
        : `command ${id} was already committed (at ${new Date(committedAt).toISOString()}); its second commit was rolled back, nothing was written twice`,
    );
    this.name = "CommandCommitError";
    this.id = id;
    this.committedAt = committedAt;
  }
}
