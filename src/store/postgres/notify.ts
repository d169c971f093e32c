/**
 * Wake-ups between instances: every write transaction ends with `pg_notify('aviary_change',
 * kind)` (delivered at commit, never for a rollback), and each store LISTENs on one dedicated
 * connection that the client re-establishes by itself. Notifications are not stored: one sent
 * while the connection was down is lost, so on every (re)listen subscribers are called for every
 * kind, and they catch up by reading the store.
 *
 * @module
 */

import type postgres from "postgres";
import type { ChangeKind } from "../store.js";

export const CHANNEL = "aviary_change";

const KINDS: readonly ChangeKind[] = ["events", "commands", "state", "reports"];
const isKind = (s: string): s is ChangeKind => (KINDS as readonly string[]).includes(s);

/** How long to wait before listening again when the first LISTEN failed (database down). */
const RETRY_MS = 1_000;

export class ChangeListener {
  readonly #sql: postgres.Sql;
  readonly #subscribers = new Set<(what: ChangeKind) => void>();
  #listening: Promise<postgres.ListenMeta> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(sql: postgres.Sql) {
    this.#sql = sql;
  }

  subscribe(fn: (what: ChangeKind) => void): () => void {
    this.#subscribers.add(fn);
    this.#listen();
    return () => {
      this.#subscribers.delete(fn);
      if (this.#subscribers.size === 0) this.#stop();
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#stop();
  }

  #emit(what: ChangeKind): void {
    for (const fn of [...this.#subscribers]) {
      try {
        fn(what);
      } catch {
        // A subscriber's bug must not stop the others' wake-ups.
      }
    }
  }

  #listen(): void {
    if (this.#listening !== undefined || this.#retry !== undefined || this.#closed) return;
    const listening = this.#sql.listen(
      CHANNEL,
      (payload) => {
        if (isKind(payload)) this.#emit(payload);
      },
      () => {
        for (const kind of KINDS) this.#emit(kind);
      },
    );
    this.#listening = listening;
    listening.catch(() => {
      if (this.#listening !== listening) return;
      this.#listening = undefined;
      if (this.#subscribers.size === 0 || this.#closed) return;
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        if (this.#subscribers.size > 0) this.#listen();
      }, RETRY_MS);
      this.#retry.unref();
    });
  }

  async #stop(): Promise<void> {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    const listening = this.#listening;
    this.#listening = undefined;
    if (listening === undefined) return;
    try {
      await (await listening).unlisten();
    } catch {}
  }
}
