/**
 * The router's own health on `/metrics`: requests in flight, mirror copies, and which targets
 * are in rotation. Read at scrape time, so they cost nothing per request.
 *
 * @module
 */

import { Counter, Gauge, type Registry } from "prom-client";
import type { RouterPlan } from "./plan.js";

export interface RouterStatsSource {
  readonly inFlight: number;
  readonly mirrorStats: { inFlight: number; dropped: number; sent: number };
  readonly plan: RouterPlan;
  readonly now: () => number;
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
