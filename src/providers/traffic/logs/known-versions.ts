/**
 * Which (service, version) pairs an engine's access-log line may be recorded under: the stable
 * and canary each service serves, and those of its current rollout (a promoted or aborted
 * version still has lines in flight). Anything else is foreign and dropped by the listener, so a
 * line cannot create a series Aviary does not know of. Kept up to date per service from the
 * committed events; a lookup per line is one Map read.
 *
 * @module
 */

import type { MetricsRegistry } from "../../../dataplane/metrics/registry.js";
import type { Recorder } from "../../../dataplane/metrics/types.js";
import type { Store } from "../../../store/store.js";

type Role = "stable" | "canary";

export class KnownVersions {
  readonly #metrics: MetricsRegistry;
  readonly #store: Pick<Store, "listServices" | "getService" | "getRollout">;
  /** service → version → recorders by role, made when the version became known. */
  readonly #known = new Map<string, Map<string, Record<Role, Recorder>>>();
  /** Refreshes run one after another: a slow read never overwrites a newer one's answer. */
  #refreshing: Promise<void> = Promise.resolve();

  constructor(
    metrics: MetricsRegistry,
    store: Pick<Store, "listServices" | "getService" | "getRollout">,
  ) {
    this.#metrics = metrics;
    this.#store = store;
  }

  /** Reads every stored service's versions (at start). */
  async load(): Promise<void> {
    for (const s of await this.#store.listServices()) await this.refresh(s.name);
  }

  /** Reads the service's versions again (after any of its events). */
  refresh(service: string): Promise<void> {
    const next = this.#refreshing.then(() => this.#read(service));
    this.#refreshing = next.catch(() => undefined);
    return next;
  }

  async #read(service: string): Promise<void> {
    const state = await this.#store.getService(service);
    if (state === undefined) {
      this.#known.delete(service);
      return;
    }
    const names = new Set([state.traffic.stable.version]);
    if (state.traffic.canary !== null) names.add(state.traffic.canary.version);
    const r = state.rolloutId === null ? undefined : await this.#store.getRollout(state.rolloutId);
    if (r !== undefined) names.add(r.stable.version).add(r.canary.version);
    const before = this.#known.get(service);
    const next = new Map<string, Record<Role, Recorder>>();
    for (const version of names)
      next.set(
        version,
        before?.get(version) ?? {
          stable: this.#metrics.recorder(service, version, "stable"),
          canary: this.#metrics.recorder(service, version, "canary"),
        },
      );
    this.#known.set(service, next);
  }

  readonly resolve = (service: string, version: string, role: Role): Recorder | undefined =>
    this.#known.get(service)?.get(version)?.[role];
}
