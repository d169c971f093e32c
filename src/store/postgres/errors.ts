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

/**
 * A fenced write (see `Store.fenced`) by an instance that no longer holds the lease with the
 * epoch it carries, or whose lease expired: rolled back, nothing written. The instance must stop
 * acting as leader.
 */
export class FencedError extends AviaryError {
  constructor(lease: string, holder: string, epoch: number) {
    super(
      "AVIARY_STORE_FENCED",
      `${holder} no longer holds the lease ${lease} with epoch ${epoch} (it expired or another instance took it); the write was rolled back`,
    );
    this.name = "FencedError";
  }
}
