/**
 * The router's own health on `/metrics`: requests in flight, mirror copies, which targets are
 * in rotation, and what the router refused by itself (requests and connections). Read at
 * scrape time, so they cost nothing per request.
 *
 * @module
 */

import { Counter, Gauge, type Registry } from "prom-client";
import type { RouterPlan } from "./plan.js";
import { REJECT_REASONS, type RejectionCounters } from "./rejections.js";

export interface RouterStatsSource {
  readonly inFlight: number;
  readonly mirrorStats: { inFlight: number; dropped: number; sent: number };
  readonly plan: RouterPlan;
  readonly now: () => number;
  readonly rejections: RejectionCounters;
  /** Client connections open now, and the cap (`proxy.maxConnections` or its default). */
  readonly connections: { open: number; max: number };
}

export function registerRouterMetrics(registry: Registry, router: RouterStatsSource): void {
  new Gauge({
    name: "aviary_router_requests_in_flight",
    help: "Requests being proxied right now.",
    registers: [registry],
    collect() {
      this.set(router.inFlight);
    },
  });
  let reportedSent = 0;
  let reportedDropped = 0;
  new Counter({
    name: "aviary_mirror_requests_total",
    help: "Mirror copies sent to the canary, or dropped (concurrency bound or body size).",
    labelNames: ["outcome"],
    registers: [registry],
    collect() {
      const { sent, dropped } = router.mirrorStats;
      this.inc({ outcome: "sent" }, sent - reportedSent);
      this.inc({ outcome: "dropped" }, dropped - reportedDropped);
      reportedSent = sent;
      reportedDropped = dropped;
    },
  });
  const reported = new Map<string, number>();
  new Counter({
    name: "aviary_router_rejected_requests_total",
    help: "Requests the router answered itself, by reason (bad_request 400, method 405, http_version 505, body_timeout 408, overload 503, malformed: Node's 400/431/408). Never a version's failure.",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      const counts = router.rejections.requests;
      for (const reason of REJECT_REASONS) {
        const now = counts[reason];
        this.inc({ reason }, now - (reported.get(reason) ?? 0));
        reported.set(reason, now);
      }
    },
  });
  let reportedRefused = 0;
  new Counter({
    name: "aviary_router_connections_refused_total",
    help: "Client connections closed at once because proxy.maxConnections were open.",
    registers: [registry],
    collect() {
      const now = router.rejections.connectionsRefused;
      this.inc(now - reportedRefused);
      reportedRefused = now;
    },
  });
  new Gauge({
    name: "aviary_router_connections",
    help: "Client connections open on the router now.",
    registers: [registry],
    collect() {
      this.set(router.connections.open);
    },
  });
  new Gauge({
    name: "aviary_router_connections_max",
    help: "The router's connection cap (proxy.maxConnections, or the default derived from the file-descriptor limit).",
    registers: [registry],
    collect() {
      this.set(router.connections.max);
    },
  });
  new Gauge({
    name: "aviary_target_available",
    help: "1 when a target is in rotation, 0 when ejected or failing its health checks.",
    labelNames: ["service", "version", "role", "target"],
    registers: [registry],
    collect() {
      this.reset();
      const now = router.now();
      for (const svc of router.plan.services) {
        for (const v of [svc.stable, svc.canary]) {
          if (v === undefined) continue;
          for (const t of v.targets.targets) {
            this.set(
              { service: svc.name, version: v.name, role: v.role, target: t.origin },
              t.isAvailable(now) ? 1 : 0,
            );
          }
        }
      }
    },
  });
}
