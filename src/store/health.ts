/**
 * A store's health as `/healthz` reports it: whether its last write went through, and if not,
 * what the database said and since when (epoch ms) writes have been failing.
 *
 * @module
 */

export type StoreHealth = { ok: true } | { ok: false; error: string; since: number };

/** A store that can say whether it is writing (the SQLite store can). */
export interface HealthReporting {
  health(): StoreHealth;
}
