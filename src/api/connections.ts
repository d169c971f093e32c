/**
 * The admin server's own connection budget. Without one, a flood of idle or half-sent
 * connections to the admin port holds file descriptors until the process has none left, and
 * `/healthz`, the API and the router all stop answering. So the server takes at most
 * {@link DEFAULT_MAX_CONNECTIONS} connections at once (Node closes any beyond at accept, before
 * a byte is read), each refusal counted in `/metrics`, and a connection that does not finish
 * its request head in time is closed (the timeouts in `server.ts`).
 *
 * @module
 */

import type { Server } from "node:http";
import { Counter, type Registry } from "prom-client";

/**
 * Far more than an admin API needs (a CLI, a dashboard per person, up to 100 event streams, a
 * Prometheus scraper), far fewer than the descriptors a process may hold (ulimit -n is often
 * 1024 soft but raised for servers; the router keeps its own budget).
 */
export const DEFAULT_MAX_CONNECTIONS = 1024;

export const REFUSED_METRIC = "aviary_admin_connections_refused_total";

/** Caps `server`'s connections and counts each one refused in `registry`. */
export function limitConnections(server: Server, max: number, registry: Registry): void {
  server.maxConnections = max;
  // One counter per registry: a registry shared by two admin servers (tests) counts for both.
  const counter =
    (registry.getSingleMetric(REFUSED_METRIC) as Counter | undefined) ??
    new Counter({
      name: REFUSED_METRIC,
      help: `Connections to the admin address closed at accept because ${max} were already open`,
      registers: [registry],
    });
  // Node emits 'drop' for each connection it closes at maxConnections (Node >= 18.6).
  server.on("drop", () => counter.inc());
}
