/**
 * The event stream (`GET /api/v1/stream`, Server-Sent Events): every committed history event
 * as `rollout-event` with its seq as the SSE id, and every analysis measurement as
 * `measurement`, from the {@link EventHub}.
 *
 * A client reconnecting with `Last-Event-ID` (or `?after=`) first gets the stored events after
 * that seq, read from the store page by page at the pace its socket drains, then the live
 * ones: it subscribes before replaying and drops live events it already sent, so nothing is
 * missed and nothing comes twice. Measurements are not stored as a sequence and are not
 * replayed.
 *
 * Bounded in every direction: at most 100 streams (503 beyond) and 10 per token (429 beyond: one
 * token, say a read-only one handed to a dashboard, cannot hold every slot), a client whose unsent data
 * passes 1 MiB is dropped rather than buffered without end (it reconnects and replays), and
 * the server closing ends every stream so `close()` never waits on one. A comment line every
 * 15 s (on the injectable clock) keeps proxies and the socket timeout from cutting an idle
 * stream.
 *
 * @module
 */

import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { ControlReads } from "../cluster/reads.js";
import { AviaryError } from "../errors.js";
import type { EventHub, HubMessage } from "../events/hub.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { identityOf } from "./auth.js";
import type { ApiStore } from "./history-routes.js";
import { type ApiRoute, parse, route } from "./route-table.js";

export interface EventStreamsOptions {
  hub: EventHub;
  store: ApiStore;
  clock: Clock;
  log: Logger;
  /** Default 100. */
  maxStreams?: number;
  /**
   * Streams one caller may hold, default 10: a dashboard tab opens one or two. A caller is a
   * token (the operator token too), or under auth.anonymousRead an address without one.
   */
  maxStreamsPerToken?: number;
  /** Default 15 s. */
  heartbeatMs?: number;
  /** Unsent bytes past which a client is dropped; default 1 MiB. */
  maxBufferedBytes?: number;
}

/** Stored events read per replay step. */
const REPLAY_PAGE = 500;
/** Live messages held while a replay runs; a replay that slow is a client to drop. */
const MAX_PENDING = 10_000;

/** Every open stream of one admin server. */
export class EventStreams {
  readonly #opts: Required<EventStreamsOptions>;
  readonly #open = new Set<Stream>();
  /** Open streams per caller (see {@link StreamFilter.caller}). */
  readonly #perCaller = new Map<string, number>();
  #closing = false;

  constructor(opts: EventStreamsOptions) {
    this.#opts = {
      maxStreams: 100,
      maxStreamsPerToken: 10,
      heartbeatMs: 15_000,
      maxBufferedBytes: 1_048_576,
      ...opts,
    };
  }

  get size(): number {
    return this.#open.size;
  }

  /** Takes over the reply and streams; throws (before taking over) when it cannot. */
  open(req: FastifyRequest, reply: FastifyReply, filter: StreamFilter, caller: Caller): void {
    if (this.#closing)
      throw new AviaryError("AVIARY_TOO_MANY_STREAMS", "the server is shutting down");
    const held = this.#perCaller.get(caller.key) ?? 0;
    // The caller's own limit first: a caller over it is told to close its streams, not that
    // the server is full.
    if (held >= this.#opts.maxStreamsPerToken) {
      throw new AviaryError(
        "AVIARY_TOO_MANY_STREAMS_FOR_TOKEN",
        `${caller.label} has ${held} event streams open, the most one token may hold (${this.#opts.maxStreamsPerToken}); close one first`,
      );
    }
    if (this.#open.size >= this.#opts.maxStreams) {
      throw new AviaryError(
        "AVIARY_TOO_MANY_STREAMS",
        `${this.#opts.maxStreams} event streams are open, the most this server keeps; try again later`,
      );
    }
    reply.hijack();
    const stream = new Stream(req, reply, filter, this.#opts, () => {
      this.#open.delete(stream);
      const left = (this.#perCaller.get(caller.key) ?? 1) - 1;
      if (left > 0) this.#perCaller.set(caller.key, left);
      else this.#perCaller.delete(caller.key);
    });
    this.#open.add(stream);
    this.#perCaller.set(caller.key, held + 1);
    stream.start();
  }

  /** Ends every stream (the server is closing): clients see the stream end, not an error. */
  closeAll(): void {
    this.#closing = true;
    for (const s of [...this.#open]) s.end();
  }
}

/** Who holds a stream, for the per-token limit. */
export interface Caller {
  /** `token:<name>`, or `anonymous:<address>` under auth.anonymousRead. */
  key: string;
  /** How a refusal names it: "the token 'grafana'". */
  label: string;
}

/** The caller of a request the auth hook let through. */
export function callerOf(req: FastifyRequest): Caller {
  const who = identityOf(req);
  if (who !== undefined) return { key: `token:${who.name}`, label: `the token '${who.name}'` };
  // Anonymous reads have no token to count by: each address gets its own allowance.
  return { key: `anonymous:${req.ip}`, label: `anonymous reads from ${req.ip}` };
}

export interface StreamFilter {
  service: string | undefined;
  /** Replay stored events after this seq first; undefined: live events only. */
  after: number | undefined;
}

class Stream {
  readonly #res: FastifyReply["raw"];
  readonly #filter: StreamFilter;
  readonly #opts: Required<EventStreamsOptions>;
  readonly #onEnd: () => void;
  readonly #unsubscribe: () => void;
  #heartbeat: TimerHandle | undefined;
  #lastSeq: number;
  #live = false;
  #pending: HubMessage[] = [];
  #ended = false;

  constructor(
    req: FastifyRequest,
    reply: FastifyReply,
    filter: StreamFilter,
    opts: Required<EventStreamsOptions>,
    onEnd: () => void,
  ) {
    this.#res = reply.raw;
    this.#filter = filter;
    this.#opts = opts;
    this.#onEnd = onEnd;
    this.#lastSeq = filter.after ?? 0;
    // Subscribed before the replay reads the store: whatever commits meanwhile is held here.
    this.#unsubscribe = opts.hub.subscribe((m) => this.#receive(m));
    this.#res.on("close", () => this.#cleanUp());
    req.raw.on("error", () => this.#cleanUp());
  }

  start(): void {
    this.#res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      // One stream per connection: ending the stream ends the connection, so nothing idles on.
      connection: "close",
      "x-accel-buffering": "no",
    });
    this.#write(": aviary event stream\nretry: 2000\n\n");
    this.#scheduleHeartbeat();
    this.#replay().catch((err: unknown) => {
      this.#opts.log.error({ err: String(err) }, "event stream replay failed; stream dropped");
      this.#drop();
    });
  }

  /** Ends the stream cleanly (server closing). */
  end(): void {
    if (this.#ended) return;
    this.#res.end();
    this.#cleanUp();
  }

  async #replay(): Promise<void> {
    if (this.#filter.after !== undefined) {
      const { store } = this.#opts;
      const service = this.#filter.service;
      for (;;) {
        if (this.#ended) return;
        const page =
          service === undefined
            ? await store.eventsAfter(this.#lastSeq, REPLAY_PAGE)
            : await store.eventsOf(service, { afterSeq: this.#lastSeq, limit: REPLAY_PAGE });
        for (const event of page) {
          // At the socket's pace: a replay never piles up in memory.
          if (!this.#send({ kind: "event", event })) await drained(this.#res);
          if (this.#ended) return;
        }
        if (page.length < REPLAY_PAGE) break;
      }
    }
    if (this.#ended) return;
    // Caught up: what the hub delivered meanwhile is sent now, less what the replay already
    // sent (#send skips a seq not above the last one sent), and from here on live.
    this.#live = true;
    const pending = this.#pending;
    this.#pending = [];
    for (const m of pending) this.#send(m);
  }

  #receive(m: HubMessage): void {
    if (this.#ended) return;
    const service = m.kind === "event" ? m.event.service : m.service;
    if (this.#filter.service !== undefined && service !== this.#filter.service) return;
    if (this.#live) {
      this.#send(m);
      return;
    }
    this.#pending.push(m);
    if (this.#pending.length > MAX_PENDING) this.#drop();
  }

  /** Writes one message; false when the socket wants a pause (replay only waits for it). */
  #send(m: HubMessage): boolean {
    if (m.kind === "event") {
      if (m.event.seq <= this.#lastSeq) return true;
      this.#lastSeq = m.event.seq;
      return this.#write(
        `id: ${m.event.seq}\nevent: rollout-event\ndata: ${JSON.stringify(m.event)}\n\n`,
      );
    }
    const { service, rolloutId, runId, measurement } = m;
    return this.#write(
      `event: measurement\ndata: ${JSON.stringify({ service, rolloutId, runId, measurement })}\n\n`,
    );
  }

  #write(chunk: string): boolean {
    if (this.#ended) return true;
    const ok = this.#res.write(chunk);
    if (this.#res.writableLength > this.#opts.maxBufferedBytes) {
      this.#drop();
      return true;
    }
    return ok;
  }

  #scheduleHeartbeat(): void {
    this.#heartbeat = this.#opts.clock.setTimeout(() => {
      this.#write(": heartbeat\n\n");
      if (!this.#ended) this.#scheduleHeartbeat();
    }, this.#opts.heartbeatMs);
  }

  /** A client that cannot keep up: cut it off (it reconnects with Last-Event-ID). */
  #drop(): void {
    if (this.#ended) return;
    this.#res.destroy();
    this.#cleanUp();
  }

  #cleanUp(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#pending = [];
    this.#unsubscribe();
    this.#heartbeat?.cancel();
    this.#onEnd();
  }
}

function drained(res: FastifyReply["raw"]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

const StreamQuery = z.strictObject({
  service: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .meta({ description: "Only this service's events and measurements." }),
  after: z.coerce.number().int().min(0).optional().meta({
    description:
      "Replay stored events after this seq first (the Last-Event-ID header, when sent, wins).",
  }),
});
const LastEventId = z.coerce.number().int().min(0);

export function streamRoutes(controller: ControlReads, streams: EventStreams): ApiRoute[] {
  return [
    route({
      method: "GET",
      url: "/api/v1/stream",
      summary: "Event stream",
      description:
        "Server-Sent Events: `rollout-event` (id = seq, data = RolloutEvent) for every committed history event and `measurement` (data = { service, rolloutId, runId, measurement }) for every analysis measurement. Send Last-Event-ID (or ?after=) to replay the stored events after that seq first. A comment every 15 s keeps it alive; at most 100 streams at once (503 beyond), and 10 per token (429 beyond).",
      tags: ["history"],
      role: "read-only",
      query: StreamQuery,
      response: { description: "The event stream.", contentType: "text/event-stream" },
      handler: async ({ query, req, reply }) => {
        if (query.service !== undefined) await controller.service(query.service);
        const header = req.headers["last-event-id"];
        const after =
          header === undefined || header === ""
            ? query.after
            : parse(LastEventId, header, "headers.last-event-id");
        streams.open(req, reply, { service: query.service, after }, callerOf(req));
        return reply;
      },
    }),
  ];
}
