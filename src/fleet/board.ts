/**
 * Where the fleet state comes from, on a control-plane instance: what `GET /api/v1/fleet/state`
 * hands to routers, and what the fleet traffic provider publishes to.
 *
 * In `aviary serve` it is the store ({@link StoreFleetBoard}): the applied spec and every
 * service's stored traffic, which every instance reads alike, so any instance answers a router
 * and a new leader changes nothing for them. The controller commits a transition before it
 * applies it, so by the time the provider is asked to apply a state the store holds it; the
 * provider only learns which revision routers must reach. `serve --workers` uses the store's
 * board too: its workers are routers like any other, so several such instances on one Postgres
 * make one fleet, whichever instance leads. {@link MemoryFleetBoard} keeps the state in the
 * process instead, for a provider without a store (its conformance suite and the fleet tests).
 *
 * @module
 */

import { isDeepStrictEqual } from "node:util";
import type { TrafficState } from "../rollout/types.js";
import type { ProxySettings, Service } from "../spec/schema.js";
import type { Store } from "../store/store.js";
import { parseDuration } from "../util/duration.js";
import { composeFleetState, type FleetState, initialTraffic, routedSpec } from "./state.js";

export interface FleetBoard {
  /** The state routers should serve now. */
  read(): Promise<FleetState>;
  /** Calls fn when the state may have changed (it carries nothing: read again). */
  onChange(fn: () => void): () => void;
  /** The spec's services and their traffic, as the provider's configure is told them. */
  configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void>;
  /** One service's traffic; returns the revision routers serve it at. */
  apply(service: string, state: TrafficState): Promise<number>;
  /** The service leaves the fleet's state. */
  finalize(service: string): Promise<void>;
}

class Listeners {
  readonly #fns = new Set<() => void>();
  add(fn: () => void): () => void {
    this.#fns.add(fn);
    return () => this.#fns.delete(fn);
  }
  fire(): void {
    for (const fn of [...this.#fns]) fn();
  }
}

/** The fleet state held in this process. */
export class MemoryFleetBoard implements FleetBoard {
  readonly #proxy: ProxySettings;
  readonly #windowMs: number;
  readonly #listeners = new Listeners();
  #specRevision = 0;
  #services: Service[] = [];
  readonly #traffic = new Map<string, { traffic: TrafficState; revision: number }>();

  constructor(opts: { proxy: ProxySettings; metricsWindowMs: number }) {
    this.#proxy = opts.proxy;
    this.#windowMs = opts.metricsWindowMs;
  }

  async read(): Promise<FleetState> {
    return composeFleetState(
      { services: this.#services, proxy: this.#proxy, metricsWindowMs: this.#windowMs },
      this.#specRevision,
      this.#traffic,
    );
  }

  onChange(fn: () => void): () => void {
    return this.#listeners.add(fn);
  }

  async configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void> {
    const specs = services.map(routedSpec);
    const names = new Set(services.map((s) => s.name));
    for (const name of [...this.#traffic.keys()]) if (!names.has(name)) this.#traffic.delete(name);
    if (!isDeepStrictEqual(specs, this.#services.map(routedSpec))) {
      this.#specRevision++;
      this.#services = [...services];
    }
    for (const [name, state] of traffic) if (names.has(name)) this.#set(name, state);
    this.#listeners.fire();
  }

  async apply(service: string, state: TrafficState): Promise<number> {
    const revision = this.#set(service, state);
    this.#listeners.fire();
    return revision;
  }

  async finalize(service: string): Promise<void> {
    if (!this.#services.some((s) => s.name === service)) return;
    this.#services = this.#services.filter((s) => s.name !== service);
    this.#traffic.delete(service);
    this.#specRevision++;
    this.#listeners.fire();
  }

  /** Sets a service's traffic; the same state again keeps its revision. */
  #set(service: string, state: TrafficState): number {
    const cur = this.#traffic.get(service);
    if (cur !== undefined && isDeepStrictEqual(cur.traffic, state)) return cur.revision;
    const spec = this.#services.find((s) => s.name === service);
    const base = cur?.revision ?? 0;
    // A service whose spec has no traffic stored yet serves its initial traffic at revision 0.
    if (cur === undefined && spec !== undefined && isDeepStrictEqual(initialTraffic(spec), state))
      return 0;
    this.#traffic.set(service, { traffic: structuredClone(state), revision: base + 1 });
    return base + 1;
  }
}

/** The fleet state as the store holds it: the applied spec and the services' stored traffic. */
export class StoreFleetBoard implements FleetBoard {
  readonly #store: Store;
  /** The spec this instance started with: its proxy and metrics settings, and its services until a spec is stored. */
  readonly #fallback: { services: readonly Service[]; proxy: ProxySettings; window: string };
  readonly #listeners = new Listeners();
  #parsed: { revision: number; spec: Parameters<typeof composeFleetState>[0] } | undefined;
  readonly #unsubscribe: () => void;

  constructor(
    store: Store,
    fallback: { services: readonly Service[]; proxy: ProxySettings; metrics: { window: string } },
  ) {
    this.#store = store;
    this.#fallback = {
      services: fallback.services,
      proxy: fallback.proxy,
      window: fallback.metrics.window,
    };
    this.#unsubscribe = store.onChange((what) => {
      if (what === "state") this.#listeners.fire();
    });
  }

  async read(): Promise<FleetState> {
    const [applied, services] = await Promise.all([
      this.#store.getAppliedSpec(),
      this.#store.listServices(),
    ]);
    const revision = applied?.revision ?? 0;
    if (this.#parsed?.revision !== revision) {
      // The stored spec carries the services (and templates); the proxy and metrics settings
      // are each instance's own, read at its start, like the embedded router's.
      const services =
        (applied?.spec as { services?: Service[] } | undefined)?.services ??
        this.#fallback.services;
      this.#parsed = {
        revision,
        spec: {
          services,
          proxy: this.#fallback.proxy,
          metricsWindowMs: parseDuration(this.#fallback.window) as number,
        },
      };
    }
    return composeFleetState(
      this.#parsed.spec,
      revision,
      new Map(services.map((s) => [s.name, s])),
    );
  }

  onChange(fn: () => void): () => void {
    return this.#listeners.add(fn);
  }

  /** Committed before the provider is told: only wake this instance's long polls. */
  async configure(): Promise<void> {
    this.#listeners.fire();
  }

  async apply(service: string): Promise<number> {
    this.#listeners.fire();
    return (await this.#store.getService(service))?.revision ?? 0;
  }

  async finalize(): Promise<void> {
    this.#listeners.fire();
  }

  close(): void {
    this.#unsubscribe();
  }
}
