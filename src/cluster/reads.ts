/**
 * What the admin API reads of the control plane. Every read comes from the store, so any
 * instance answers it, leader or follower. The data plane's convergence status is the leader's
 * own (its convergence loop runs there): the leader answers it live, a follower answers what
 * the leader last recorded in the store (see `traffic-status.ts`), marked with when and by whom.
 *
 * @module
 */

import type { Controller } from "../rollout/controller.js";
import type { Store } from "../store/store.js";
import { type ShownTrafficStatus, shownFromStore } from "./traffic-status.js";

export type ControlReads = Pick<
  Controller,
  "services" | "service" | "rollout" | "analysis" | "history"
> & {
  /** The service's data-plane status: live on the leader, as recorded on a follower. */
  trafficStatus(name: string): Promise<ShownTrafficStatus | undefined>;
};

/**
 * Reads through `reader` (a controller that is never started: its reads are plain store reads),
 * the convergence status through the leading term's controller when this instance leads, else
 * from the store.
 */
export function clusterReads(
  reader: Controller,
  leading: () => Controller | undefined,
  deps: { store: Pick<Store, "getTrafficStatus">; instance: string },
): ControlReads {
  return {
    services: () => reader.services(),
    service: (name) => reader.service(name),
    rollout: (service) => reader.rollout(service),
    analysis: (service) => reader.analysis(service),
    history: (service, opts) => reader.history(service, opts),
    trafficStatus: async (name) => {
      const leader = leading();
      if (leader !== undefined) {
        const live = leader.trafficStatus(name);
        return live && { ...live, recordedAt: null, recordedBy: deps.instance };
      }
      const stored = await deps.store.getTrafficStatus(name);
      return stored && shownFromStore(stored);
    },
  };
}
