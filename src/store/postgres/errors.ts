/**
 * Errors of the Postgres store that callers see as they are.
 *
 * @module
 */

import { AviaryError } from "../../errors.js";

/**
 * The database server could not be reached (down, restarting, network): names the server by
 * host:port and database, never the password. Nothing was written; the store reconnects by
 * itself once the server answers again.
 */
export class StoreUnavailableError extends AviaryError {
  constructor(where: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      "AVIARY_STORE_UNAVAILABLE",
      `the Aviary database ${where} is unreachable (${why}); nothing was written, the store retries on the next call`,
      { cause },
    );
    this.name = "StoreUnavailableError";
  }
}
