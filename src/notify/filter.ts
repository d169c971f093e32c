/**
 * Which notifications an event goes to. A notification's `events` list speaks the spec's
 * names ({@link NOTIFICATION_EVENTS}), which are not quite the history's event types:
 * an analysis failure is recorded as an `aborted` event whose actor is `analysis`, and a
 * retried rollout starts like any other. The mapping lives here, in one place.
 *
 * @module
 */

import type { RolloutEvent } from "../rollout/types.js";
import type { Notification, NotificationEvent } from "../spec/notify.js";

/**
 * The name an event is announced under (the `X-Aviary-Event` header, the `event` field of the
 * JSON body): `analysis.failed` for an abort the analysis caused, the event type otherwise.
 */
export function announcedAs(event: RolloutEvent): string {
  return event.type === "aborted" && event.actor === "analysis" ? "analysis.failed" : event.type;
}

/** The spec event names an event answers to: an analysis abort is both `aborted` and `analysis.failed`. */
export function namesOf(event: RolloutEvent): NotificationEvent[] {
  switch (event.type) {
    case "aborted":
      return event.actor === "analysis" ? ["aborted", "analysis.failed"] : ["aborted"];
    case "rollout.retried":
      // A retry starts a new rollout; whoever wants starts wants this one too.
      return ["rollout.started"];
    default:
      return [event.type as NotificationEvent];
  }
}

/** Whether a notification wants an event: every event when it names no events or services. */
export function wants(n: Pick<Notification, "events" | "services">, event: RolloutEvent): boolean {
  if (n.services !== undefined && !n.services.includes(event.service)) return false;
  if (n.events === undefined) return true;
  const names = namesOf(event);
  return n.events.some((e) => names.includes(e));
}
