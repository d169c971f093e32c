/**
 * Notifications, wired: subscribes to the event hub, picks the notifications each event
 * goes to (their `events` and `services` filters), formats the body, and hands it to the
 * {@link Deliverer}. The hub's publisher (the controller, right after a commit) never waits:
 * all this costs it is the formatting.
 *
 * Every secret (a `urlFrom`, a signing `secret`) is read when the notifier starts, and a
 * missing one stops the start with an error naming `notifications[i]` and the variable or
 * file: better to learn it at startup than when the first abort goes unannounced.
 *
 * @module
 */

import { randomUUID } from "node:crypto";
import type { Registry } from "prom-client";
import { AviaryError } from "../errors.js";
import type { EventHub } from "../events/hub.js";
import type { RolloutEvent } from "../rollout/types.js";
import type { Notification } from "../spec/notify.js";
import type { Clock } from "../util/clock.js";
import { parseDuration } from "../util/duration.js";
import type { Logger } from "../util/log.js";
import { Deliverer, type DelivererOptions, type NotificationStats } from "./delivery.js";
import { announcedAs, wants } from "./filter.js";
import { formatBody } from "./formats/index.js";
import { type Env, type ReadFile, readSecret } from "./secret.js";

export type Versions = { stable: string; canary: string };

export interface NotifierOptions {
  hub: EventHub;
  notifications: readonly Notification[];
  clock: Clock;
  log: Logger;
  /** Where `aviary_notifications_total` goes. */
  prometheus?: Registry | undefined;
  env?: Env | undefined;
  readFile?: ReadFile | undefined;
  /**
   * A rollout's stable and canary versions (e.g. from the store), so chat messages can show
   * them for every event, not only the few that record them.
   */
  versionsOf?:
    | ((rolloutId: string) => Versions | undefined | Promise<Versions | undefined>)
    | undefined;
  /** Delivery tuning (queue bound, back-off); the defaults suit production. */
  delivery?: Omit<DelivererOptions, "clock" | "log" | "registry"> | undefined;
}

export interface Notifier {
  /** Unsubscribes, then closes the deliverer (see {@link Deliverer.close}). */
  close(): Promise<void>;
  /** Per notification name: delivered, failed, dropped, queued, busy. */
  stats(): Record<string, NotificationStats>;
}

/** A notification with its secrets read. */
interface Target {
  n: Notification;
  url: string;
  secret: string | undefined;
  timeoutMs: number;
}

function configError(message: string, cause?: unknown): AviaryError {
  return new AviaryError(
    "AVIARY_NOTIFICATION_INVALID",
    message,
    cause === undefined ? undefined : { cause },
  );
}

function resolve(n: Notification, i: number, env: Env | undefined, readFile?: ReadFile): Target {
  const where = `notifications[${i}] (${n.name})`;
  const secretAt = (ref: NonNullable<Notification["secret"]>, field: string): string => {
    try {
      return readSecret(ref, env, readFile);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      throw configError(`${where}.${field}: ${detail}`, err);
    }
  };
  let url: string;
  if (n.url !== undefined) url = n.url;
  else if (n.urlFrom !== undefined) url = secretAt(n.urlFrom, "urlFrom");
  else throw configError(`${where}: give url or urlFrom`);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    // Never echo the value: from urlFrom it is a credential.
    const field = n.url !== undefined ? "url" : "urlFrom";
    throw configError(`${where}.${field}: not an http:// or https:// URL`);
  }
  const timeoutMs = parseDuration(n.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0) {
    throw configError(`${where}.timeout: expected a positive duration such as 5s`);
  }
  return {
    n,
    url,
    secret: n.secret === undefined ? undefined : secretAt(n.secret, "secret"),
    timeoutMs,
  };
}

/** Starts delivering; throws an AviaryError naming the notification if a secret is missing. */
export function startNotifier(opts: NotifierOptions): Notifier {
  const seen = new Map<string, number>();
  const targets = opts.notifications.map((n, i) => {
    const first = seen.get(n.name);
    if (first !== undefined) {
      throw configError(
        `notifications[${i}]: the name ${n.name} is taken by notifications[${first}]`,
      );
    }
    seen.set(n.name, i);
    return resolve(n, i, opts.env, opts.readFile);
  });

  const deliverer = new Deliverer({
    ...opts.delivery,
    clock: opts.clock,
    log: opts.log,
    registry: opts.prometheus,
  });
  for (const t of targets) deliverer.track(t.n.name);

  const versionsFor = async (event: RolloutEvent): Promise<Versions | undefined> => {
    if (opts.versionsOf === undefined || event.rolloutId === null) return undefined;
    try {
      return await opts.versionsOf(event.rolloutId);
    } catch (err) {
      // Versions are a nicety; the message goes out without them.
      opts.log.debug({ err, rollout: event.rolloutId }, "notifications: no versions for rollout");
      return undefined;
    }
  };

  const deliver = async (event: RolloutEvent): Promise<void> => {
    const wanted = targets.filter((t) => wants(t.n, event));
    // Read from the store only when a chat format shows them.
    const versions = wanted.some((t) => t.n.format !== "json")
      ? await versionsFor(event)
      : undefined;
    for (const t of wanted) {
      const deliveryId = randomUUID();
      let body: string;
      try {
        body = JSON.stringify(formatBody(t.n.format, event, { deliveryId, versions }));
      } catch (err) {
        // One event that cannot be formatted must not cost the other notifications theirs.
        opts.log.error(
          { err, notification: t.n.name, event: event.type, seq: event.seq },
          "notification not sent: the event could not be formatted",
        );
        continue;
      }
      deliverer.enqueue({
        notification: t.n.name,
        url: t.url,
        event: announcedAs(event),
        deliveryId,
        body,
        secret: t.secret,
        timeoutMs: t.timeoutMs,
        retries: t.n.retries,
      });
    }
  };
  // Events are handled one after another (the versions are a store read), so each
  // notification's deliveries keep the events' order.
  let handling: Promise<void> = Promise.resolve();
  const unsubscribe = opts.hub.subscribe((message) => {
    if (message.kind !== "event") return;
    const event = message.event;
    handling = handling
      .then(() => deliver(event))
      .catch((err: unknown) =>
        opts.log.error({ err: String(err), seq: event.seq }, "notifications: event not handled"),
      );
  });

  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        unsubscribe();
        await handling;
        await deliverer.close();
      })();
      return closing;
    },
    stats: () => deliverer.stats(),
  };
}
