/**
 * A rollout as the API shows it: its committed reason, and beside it whether the data plane
 * serves what was recorded. A decision is committed before the engine is told, and an external
 * engine can be down or serve something else, so an operator must see "recorded, not yet
 * applied to haproxy: <why>" until it does — on `aviary get`, the dashboard and every command's
 * answer.
 *
 * @module
 */

import type { ControlReads } from "../cluster/reads.js";
import type { TrafficStatus } from "../rollout/convergence.js";
import type { Rollout } from "../rollout/types.js";

/** The reads a rollout's presentation needs: the leader's controller, or any instance's reads. */
type StatusReads = Pick<ControlReads, "service"> & {
  trafficStatus(name: string): TrafficStatus | undefined | Promise<TrafficStatus | undefined>;
};

/** The rollout with the data plane's state added to its reason, when the service's is not well. */
export async function presentRollout(controller: StatusReads, rollout: Rollout): Promise<Rollout> {
  const status = await controller.trafficStatus(rollout.service);
  if (status === undefined || (status.applied && status.why === undefined)) return rollout;
  if ((await controller.service(rollout.service)).rolloutId !== rollout.id) return rollout;
  const note = status.applied
    ? status.why
    : `recorded, not yet applied to ${status.engine}: ${status.why ?? "applying"}`;
  return { ...rollout, reason: `${rollout.reason} — ${note}` };
}
