/**
 * Aviary's own webhook body: the history event as it was recorded, with the name it is
 * announced under (`event`) and the delivery id (`id`, also in `X-Aviary-Delivery`) on top,
 * so a receiver can branch on `event` and de-duplicate on `id` without reading headers.
 *
 * @module
 */

import type { RolloutEvent } from "../../rollout/types.js";
import { announcedAs } from "../filter.js";
import type { FormatContext } from "./summary.js";

export interface JsonBody {
  /** The delivery id: the same on every retry of this delivery. */
  id: string;
  /** The name the event is announced under: `analysis.failed` for an analysis abort. */
  event: string;
  /** The history event's own type (`aborted` for an analysis abort). */
  type: string;
  /** The history sequence number: strictly increasing, so receivers can order and de-duplicate. */
  seq: number;
  service: string;
  rolloutId: string | null;
  /** ISO 8601. */
  at: string;
  actor: string;
  reason: string;
  phase: string | null;
  stepIndex: number | null;
  weight: number | null;
  data: Record<string, unknown>;
}

export function jsonBody(event: RolloutEvent, ctx: FormatContext): JsonBody {
  return {
    id: ctx.deliveryId,
    event: announcedAs(event),
    type: event.type,
    seq: event.seq,
    service: event.service,
    rolloutId: event.rolloutId,
    at: new Date(event.at).toISOString(),
    actor: event.actor,
    reason: event.reason,
    phase: event.phase,
    stepIndex: event.stepIndex,
    weight: event.weight,
    data: event.data,
  };
}
