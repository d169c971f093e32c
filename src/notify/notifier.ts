/**
 * Notifications, wired: takes each event (from the leader's {@link NotificationFeed}, or an
 * event hub), picks the notifications it goes to (their `events` and `services` filters),
 * formats the body, and hands it to the {@link Deliverer}. Whoever hands it an event never
 * waits: all this costs it is the formatting.
 *
 * A delivery's id (`X-Aviary-Delivery`, and `id` in the JSON body) is derived from the event
 * and the notification's name, so every instance makes the same one: a new leader that sends
 * again an event the old one had in flight sends it under the same id, and a receiver drops
 * the repeat.
 *
 * Every secret (a `urlFrom`, a signing `secret`) is read when the notifier starts, and a
 * missing one stops the start with an error naming `notifications[i]` and the variable or
 * file: better to learn it at startup than when the first abort goes unannounced.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Registry } from "prom-client";
import { AviaryError } from "../errors.js";
import type { EventHub } from "../events/hub.js";
import type { RolloutEvent } from "../rollout/types.js";
import type { Notification } from "../spec/notify.js";
import type { Clock } from "../util/clock.js";
import { parseDuration } from "../util/duration.js";
import type { Logger } from "../util/log.js";
import {
  Deliverer,
  type DelivererOptions,
  type DeliveryJob,
  type NotificationStats,
} from "./delivery.js";
import { announcedAs, wants } from "./filter.js";
import { formatBody } from "./formats/index.js";
import { type Env, type ReadFile, readSecret } from "./secret.js";

export type Versions = { stable: string; canary: string };

export interface NotifierOptions {
  /** Where events come from, if from a hub; else they are handed to {@link Notifier.send}. */
  hub?: EventHub | undefined;
  notifications: readonly Notification[];
  /** The notifications with their secrets already read ({@link readNotificationTargets}). */
  targets?: readonly NotificationTarget[] | undefined;
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
  /**
   * Hands one event to delivery, in order after the ones before it. `settled` is called once
   * every delivery it made is over (delivered, failed or dropped), or at once when it made none
   * (no notification wants it, or it is too old: see {@link catchUpHorizonMs}).
   */
  send(event: RolloutEvent, settled?: () => void): void;
  /** Unsubscribes, then closes the deliverer (see {@link Deliverer.close}). */
  close(): Promise<void>;
  /** Per notification name: delivered, failed, dropped, queued, busy, skipped. */
  stats(): Record<string, NotificationStats & { skipped: number }>;
}

/**
 * The least age at which an event is too old to announce.
 *
 * Events reach a notifier seconds after their commit, except when a new leader catches up from
 * the notification cursor: after a takeover (the lease, 10 s by default) or after the database
 * was away (minutes, or hours). The old leader would have kept trying an event for its retry
 * horizon, so the new one honours at least that; but a horizon can be a few seconds (`retries:
 * 0`), shorter than any takeover, and then the rollback that made the leader change would go
 * unannounced. Ten minutes covers takeovers and short outages: a rollback announced ten minutes
 * late still tells a team what happened. Hours of old events poured into a chat channel after a
 * long outage tell nobody anything (the history keeps them), so those are skipped, counted.
 */
export const CATCH_UP_FLOOR_MS = 10 * 60_000;

/** The age past which a notification does not announce an event: its retry horizon, at least the floor. */
export function catchUpHorizonMs(retryHorizonMs: number): number {
  return Math.max(CATCH_UP_FLOOR_MS, retryHorizonMs);
}

/**
 * A delivery's id: the same for the same event and notification on every instance, so a
 * repeat after a change of leader can be dropped by the receiver. Hashed from the event's seq
 * and time (a store restored from a backup reuses seqs, never with the same times) and the
 * notification's name, and shaped as a UUID (version 8, RFC 9562) for receivers that keep
 * delivery ids as UUIDs.
 */
export function deliveryIdOf(event: RolloutEvent, notification: string): string {
  const h = createHash("sha256")
    .update(`aviary-delivery\0${event.seq}\0${event.at}\0${event.service}\0${notification}`)
    .digest("hex");
  const variant = (8 | (Number.parseInt(h.charAt(16), 16) & 3)).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A notification with its secrets read. */
export interface NotificationTarget {
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

function resolve(
  n: Notification,
  i: number,
  env: Env | undefined,
  readFile?: ReadFile,
): NotificationTarget {
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

/**
 * Reads every notification's secrets; throws an AviaryError naming the notification if one is
 * missing or a name is taken twice. Done once at start: a term started later must not fail on
 * a secret file that went away meanwhile.
 */
export function readNotificationTargets(
  notifications: readonly Notification[],
  env?: Env,
  readFile?: ReadFile,
): NotificationTarget[] {
  const seen = new Map<string, number>();
  return notifications.map((n, i) => {
    const first = seen.get(n.name);
    if (first !== undefined) {
      throw configError(
        `notifications[${i}]: the name ${n.name} is taken by notifications[${first}]`,
      );
    }
    seen.set(n.name, i);
    return resolve(n, i, env, readFile);
  });
}

/** Starts delivering; throws an AviaryError naming the notification if a secret is missing. */
export function startNotifier(opts: NotifierOptions): Notifier {
  const targets =
    opts.targets ?? readNotificationTargets(opts.notifications, opts.env, opts.readFile);

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

  const horizons = new Map(
    targets.map((t) => [
      t.n.name,
      catchUpHorizonMs(deliverer.retryHorizonMs(t.n.retries, t.timeoutMs)),
    ]),
  );
  /** Per notification: events skipped as too old since the last summary. */
  const skipped = new Map<string, { count: number; fromSeq: number; toSeq: number }>();
  const skippedTotal = new Map<string, number>();
  const skip = (name: string, event: RolloutEvent) => {
    const s = skipped.get(name);
    if (s === undefined) skipped.set(name, { count: 1, fromSeq: event.seq, toSeq: event.seq });
    else {
      s.count++;
      s.toSeq = event.seq;
    }
    skippedTotal.set(name, (skippedTotal.get(name) ?? 0) + 1);
    deliverer.countSkipped(name, 1);
  };
  /** One line per notification for a run of skipped events, once the run is over. */
  const reportSkipped = () => {
    for (const [name, s] of skipped) {
      opts.log.warn(
        {
          notification: name,
          skipped: s.count,
          fromSeq: s.fromSeq,
          toSeq: s.toSeq,
          horizonMs: horizons.get(name),
        },
        "events older than the notification's horizon were not announced (the history keeps them)",
      );
    }
    skipped.clear();
  };

  const deliver = async (event: RolloutEvent, settled: () => void): Promise<void> => {
    const age = opts.clock.now() - event.at;
    const wanted = targets.filter((t) => {
      if (!wants(t.n, event)) return false;
      if (age <= (horizons.get(t.n.name) as number)) return true;
      skip(t.n.name, event);
      return false;
    });
    // Read from the store only when a chat format shows them.
    const versions = wanted.some((t) => t.n.format !== "json")
      ? await versionsFor(event)
      : undefined;
    const jobs: DeliveryJob[] = [];
    for (const t of wanted) {
      const deliveryId = deliveryIdOf(event, t.n.name);
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
      jobs.push({
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
    let open = jobs.length;
    if (open === 0) {
      settled();
      return;
    }
    const one = () => {
      if (--open === 0) settled();
    };
    for (const job of jobs) deliverer.enqueue({ ...job, settled: one });
  };
  // Events are handled one after another (the versions are a store read), so each
  // notification's deliveries keep the events' order.
  let handling: Promise<void> = Promise.resolve();
  let waiting = 0;
  const send = (event: RolloutEvent, settled: () => void = () => {}) => {
    waiting++;
    handling = handling
      .then(() => deliver(event, settled))
      .catch((err: unknown) => {
        opts.log.error({ err: String(err), seq: event.seq }, "notifications: event not handled");
        settled();
      })
      .finally(() => {
        if (--waiting === 0) reportSkipped();
      });
  };
  const unsubscribe =
    opts.hub?.subscribe((message) => {
      if (message.kind === "event") send(message.event);
    }) ?? (() => {});

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
    send,
    stats: () => {
      const out: Record<string, NotificationStats & { skipped: number }> = {};
      for (const [name, st] of Object.entries(deliverer.stats()))
        out[name] = { ...st, skipped: skippedTotal.get(name) ?? 0 };
      return out;
    },
  };
}
