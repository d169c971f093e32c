/**
 * The traffic provider a spec's `dataplane.engine` asks for, built in one place so that
 * `aviary serve`, the demo and the benchmarks get the same one.
 *
 * @module
 */

import type { Router } from "../../dataplane/router.js";
import type { FleetBoard } from "../../fleet/board.js";
import type { DataplaneSettings } from "../../spec/schema.js";
import type { Clock } from "../../util/clock.js";
import type { Logger } from "../../util/log.js";
import { EmbeddedTrafficProvider } from "./embedded/index.js";
import { type FleetReports, FleetTrafficProvider } from "./fleet/index.js";
import { createHaproxyProvider } from "./haproxy/index.js";
import { createNginxProvider } from "./nginx/index.js";
import { NoopTrafficProvider } from "./noop/index.js";
import type { TrafficProvider } from "./provider.js";

export interface TrafficProviderDeps {
  /** The in-process router: the embedded engine itself, and the metrics' home for the others. */
  router: Router;
  clock: Clock;
  log: Logger;
  /** Where the fleet state is published and the routers' reports are read (engine fleet). */
  fleet?: { board: FleetBoard; reports: FleetReports };
}

export function createTrafficProvider(
  dataplane: DataplaneSettings,
  deps: TrafficProviderDeps,
): TrafficProvider {
  switch (dataplane.engine) {
    case "embedded":
      return new EmbeddedTrafficProvider(deps.router, deps.clock);
    case "fleet":
      if (deps.fleet === undefined)
        throw new Error("engine fleet needs the fleet board and reports");
      return new FleetTrafficProvider({ ...deps.fleet, clock: deps.clock });
    case "none":
      return new NoopTrafficProvider();
    case "haproxy":
      if (dataplane.haproxy === undefined)
        throw new Error("engine haproxy needs its haproxy settings");
      return createHaproxyProvider(dataplane.haproxy, { log: deps.log, clock: deps.clock });
    case "nginx":
      if (dataplane.nginx === undefined) throw new Error("engine nginx needs its nginx settings");
      return createNginxProvider(dataplane.nginx, { log: deps.log, clock: deps.clock });
  }
}

/** Whether the engine carries the users' requests in this process (the router listens). */
export function servesInProcess(dataplane: DataplaneSettings): boolean {
  return dataplane.engine === "embedded";
}
