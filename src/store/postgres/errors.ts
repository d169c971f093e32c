/**
 * Errors of the Postgres store that callers see as they are.
 *
 * @module
 */

import { AviaryError } from "../../errors.js";

export interface UnavailableContext {
  /** The store operation that failed (`getService`, `transaction`, ...). */
  operation?: string;
  /**
   * The call was a write that had been sent when the deadline passed: its commit may have
   * reached the server, so "nothing was written" cannot be promised.
   */
  mayHaveWritten?: boolean;
}

/**
 * The database server could not be reached (down, restarting, network) or did not answer within
 * the store's deadline (frozen): names the server by host:port and database, never the password,
 * and the operation. The store reconnects by itself once the server answers again.
 */
export class StoreUnavailableError extends AviaryError {
  readonly operation: string | undefined;

  constructor(where: string, cause: unknown, context: UnavailableContext = {}) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const during = context.operation === undefined ? "" : ` (${context.operation})`;
    const written = context.mayHaveWritten
      ? "the write may or may not have committed (read it back)"
      : "nothing was written";
    super(
      "AVIARY_STORE_UNAVAILABLE",
      `the Aviary database ${where} is unreachable${during}: ${why}; ${written}, the store retries on the next call`,
      { cause },
    );
    this.name = "StoreUnavailableError";
    this.operation = context.operation;
  }
}
