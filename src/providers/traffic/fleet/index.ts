/**
 * The fleet of `aviary router` processes as a traffic provider (`dataplane.engine: fleet`).
 * Routers pull the fleet state from the control plane, so `apply` publishes (or, with the
 * store as the board, finds the revision already committed) and then waits until every live
 * router reports that it serves it; `observe` is what the live routers report they serve.
 *
 * A router is live while its last report is at most three report intervals old and it has not
 * said it is leaving. A service counts as served when every live router serves the revision the
 * board has for it; a router still on an older revision makes the service absent from what
 * `observe` returns (the convergence loop then applies it again, which is harmless). With no
 * live router at all, every call fails as `unreachable`.
 *
 * @module
 */

import type { FleetBoard } from "../../../fleet/board.js";
import type { FleetState } from "../../../fleet/state.js";
import type { TrafficState } from "../../../rollout/types.js";
import type { Service } from "../../../spec/schema.js";
import type { RouterReport, StoreTx } from "../../../store/store.js";
import type { Clock } from "../../../util/clock.js";
import { type ServedTraffic, type TrafficProvider, TrafficProviderError } from "../provider.js";
import { servedOf } from "../served.js";
import { FLEET_CAPABILITIES } from "./capabilities.js";

export const PROVIDER_TYPE = "fleet";

/** Where routers' reports are kept: the store, on every instance. */
export type FleetReports = Pick<StoreTx, "routerReports">;

export interface FleetProviderOptions {
  board: FleetBoard;
  reports: FleetReports;
  clock: Clock;
  /** The routers' report interval (default 2 s); live means reported within three of them. */
  reportIntervalMs?: number;
  /** How long apply waits for every live router to serve what it published (default 5 s). */
  timeoutMs?: number;
  /** How often it reads the reports again while waiting (default 100 ms). */
  pollMs?: number;
}

/** Routers whose last report is recent and who have not said they are leaving. */
export function liveRouters(
  reports: readonly RouterReport[],
  now: number,
  intervalMs: number,
): RouterReport[] {
  return reports.filter((r) => now - r.at <= 3 * intervalMs && !isFinal(r));
}

export function isFinal(r: RouterReport): boolean {
  const w = r.windows as { final?: unknown } | null;
  return typeof w === "object" && w !== null && w.final === true;
}

export class FleetTrafficProvider implements TrafficProvider {
  readonly type = PROVIDER_TYPE;
  readonly capabilities = FLEET_CAPABILITIES;
  readonly #o: Required<FleetProviderOptions>;
  /** Whether the routers have answered for a service since it was last set (canaryAvailable). */
  readonly #canaryUp = new Map<string, boolean>();

  constructor(opts: FleetProviderOptions) {
    this.#o = { reportIntervalMs: 2_000, timeoutMs: 5_000, pollMs: 100, ...opts };
  }

  async configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void> {
    await this.#o.board.configure(services, traffic);
    const state = await this.#o.board.read();
    await this.#until("configure", (live) =>
      state.services.every((s) => everyServes(live, s.spec.name, s.revision)),
    );
  }

  async apply(service: string, state: TrafficState): Promise<void> {
    const revision = await this.#o.board.apply(service, state);
    const board = await this.#o.board.read();
    // A service not in the spec yet keeps its traffic for when a configure brings it.
    if (!board.services.some((s) => s.spec.name === service)) return;
    await this.#until(`apply ${service}`, (live) => everyServes(live, service, revision));
  }

  async observe(): Promise<ReadonlyMap<string, ServedTraffic>> {
    const live = await this.#live();
    if (live.length === 0) throw await this.#unreachable();
    const state = await this.#o.board.read();
    return servedBy(live, state);
  }

  async finalize(service: string): Promise<void> {
    await this.#o.board.finalize(service);
    await this.#until(`finalize ${service}`, (live) =>
      live.every((r) => r.served[service] === undefined),
    );
  }

  canaryAvailable(service: string): boolean | undefined {
    return this.#canaryUp.get(service);
  }

  async close(): Promise<void> {}

  async #live(): Promise<RouterReport[]> {
    const reports = await this.#o.reports.routerReports();
    return liveRouters(reports, this.#o.clock.now(), this.#o.reportIntervalMs);
  }

  async #unreachable(): Promise<TrafficProviderError> {
    const all = await this.#o.reports.routerReports();
    const newest = Math.max(...all.map((r) => r.at));
    const said =
      all.length === 0
        ? "no router has reported"
        : `none of the ${all.length} known routers has reported within ${(3 * this.#o.reportIntervalMs) / 1000} s (the last report came ${Math.round((this.#o.clock.now() - newest) / 1000)} s ago)`;
    return new TrafficProviderError(PROVIDER_TYPE, "unreachable", `fleet: ${said}`);
  }

  /** Waits, on the clock, until `done` holds for the live routers; typed errors otherwise. */
  async #until(what: string, done: (live: RouterReport[]) => boolean): Promise<void> {
    const deadline = this.#o.clock.now() + this.#o.timeoutMs;
    for (;;) {
      const live = await this.#live();
      if (live.length > 0 && done(live)) return;
      if (this.#o.clock.now() >= deadline) {
        // Waited for one to come (a router starting, a report late under load): none did.
        if (live.length === 0) throw await this.#unreachable();
        const behind = live.map((r) => r.router).join(", ");
        throw new TrafficProviderError(
          PROVIDER_TYPE,
          "timeout",
          `fleet: ${what}: not every live router serves it within ${this.#o.timeoutMs} ms (live: ${behind})`,
        );
      }
      await new Promise<void>((resolve) => this.#o.clock.setTimeout(resolve, this.#o.pollMs));
    }
  }
}

function everyServes(live: readonly RouterReport[], service: string, revision: number): boolean {
  return live.every((r) => (r.served[service]?.revision ?? -1) >= revision);
}

/** What every live router serves: a service counts when all of them serve its revision. */
export function servedBy(
  live: readonly RouterReport[],
  state: FleetState,
): Map<string, ServedTraffic> {
  const out = new Map<string, ServedTraffic>();
  for (const s of state.services)
    if (live.every((r) => r.served[s.spec.name]?.revision === s.revision))
      out.set(s.spec.name, servedOf(s.traffic));
  return out;
}
