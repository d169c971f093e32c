/**
 * What the admin API reads of the control plane. Every read comes from the store, so any
 * instance answers it, leader or follower; only the data plane's convergence status is the
 * leader's own (its convergence loop runs there), and a follower has none to show.
 *
 * @module
 */

import type { Controller } from "../rollout/controller.js";

export type ControlReads = Pick<
  Controller,
  "services" | "service" | "rollout" | "analysis" | "history" | "trafficStatus"
>;

/**
 * Reads through `reader` (a controller that is never started: its reads are plain store reads),
 * the convergence status through the leading term's controller, when this instance leads.
 */
export function clusterReads(
  reader: Controller,
  leading: () => Controller | undefined,
): ControlReads {
  return {
    services: () => reader.services(),
    service: (name) => reader.service(name),
    rollout: (service) => reader.rollout(service),
    analysis: (service) => reader.analysis(service),
    history: (service, opts) => reader.history(service, opts),
    trafficStatus: (name) => leading()?.trafficStatus(name),
  };
}
