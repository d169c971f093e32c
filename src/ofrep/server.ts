/**
 * The OFREP listener: flag evaluation for OpenFeature SDKs (`POST /ofrep/v1/evaluate/flags`
 * and `/{key}`) and its change stream, on its own address, with client keys only.
 *
 * Written on node:http rather than the admin API's Fastify: every page view of every app
 * using a flag comes here, so a request does one key check, one bounded body read, one
 * evaluation against flags compiled once per revision, and one JSON write. It is bounded like
 * the router: a connection cap, a request head and body that must arrive in time, a body size
 * limit, JSON only.
 *
 * @module
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Counter, type Registry } from "prom-client";
import type { TokenRegistry } from "../api/tokens.js";
import { defaultMaxConnections, openFilesSoftLimit } from "../dataplane/connection-cap.js";
import type { ServedFlags } from "../flags/served.js";
import type { OfrepRateLimit } from "../spec/schema-parts.js";
import type { ListenAddress } from "../util/address.js";
import type { Clock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { ChangeStreams } from "./changes.js";
import { handleFlagRoute, isFlagRoute, type TrackingOptions } from "./flag-routes.js";
import { checkClientKey, checkTicket, issueTicket, type KeyCheck } from "./keys.js";
import { addressBucket, retryAfterSeconds, TokenBuckets } from "./rate-limit.js";
import {
  bulkBody,
  contextOf,
  etagOf,
  evaluationBody,
  type Failure,
  noneMatch,
} from "./responses.js";

export const OFREP_PREFIX = "/ofrep/v1/evaluate/flags";
export const CHANGES_PATH = "/ofrep/v1/flag-changes";

export interface OfrepLimits {
  /**
   * Connections open at once; more are closed at accept (default: the router's default for
   * this process's open-files limit, at most 4096).
   */
  maxConnections?: number;
  /** Largest request body (default 64 KiB: an evaluation context is a few hundred bytes). */
  maxBodyBytes?: number;
  /** A request head must arrive within this (default 10 s). */
  headersTimeoutMs?: number;
  /** The whole request, body included (default 15 s). */
  requestTimeoutMs?: number;
  /** Change streams open at once (default 1000). */
  maxStreams?: number;
  /** A comment line on every change stream this often (default 15 s). */
  heartbeatMs?: number;
}

export interface OfrepOptions extends OfrepLimits {
  flags: ServedFlags;
  /** The spec's `ofrep.rateLimit` (its defaults when absent). */
  rateLimit?: Partial<OfrepRateLimit>;
  /** Where `aviary_ofrep_rate_limited_total` is counted. */
  prometheus?: Registry;
  tokens: TokenRegistry;
  clock: Clock;
  log: Logger;
  /** Where tracking events go (`flag-routes.ts`); without it the tracking route answers 404. */
  tracking?: TrackingOptions;
}

export interface OfrepServer {
  readonly address: ListenAddress;
  readonly server: Server;
  readonly streams: ChangeStreams;
  /** Rate-limit buckets held now, per kind (bounded by `rateLimit.maxBuckets`). */
  readonly buckets: { readonly keys: number; readonly addresses: number };
  close(): Promise<void>;
}

const JSON_TYPE = "application/json";
/** Browsers call from any page that holds a client key: CORS lets them, and read the ETag. */
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": "ETag, Retry-After",
} as const;

export const RATE_LIMITED_METRIC = "aviary_ofrep_rate_limited_total";

/** The buckets of one listener, and how it counts what they refuse. */
interface Limiter {
  keys: TokenBuckets;
  addresses: TokenBuckets;
  refused(limit: "key" | "address"): void;
}

function limiter(opts: OfrepOptions): Limiter {
  const r = opts.rateLimit ?? {};
  const perKey = r.perKey ?? 10_000;
  const perAddress = r.perAddress ?? 20;
  const maxBuckets = r.maxBuckets ?? 10_000;
  const keys = new TokenBuckets(
    { rate: perKey, burst: r.burst ?? Math.max(1, Math.ceil(perKey)), maxBuckets },
    opts.clock,
  );
  const addresses = new TokenBuckets(
    { rate: perAddress, burst: Math.max(1, Math.ceil(perAddress * 2)), maxBuckets },
    opts.clock,
  );
  const registry = opts.prometheus;
  // One counter per registry: two listeners on one registry (tests) count together. Labelled
  // by the kind of limit only: neither a key nor an address goes into a label or a log line.
  const counter =
    registry === undefined
      ? undefined
      : ((registry.getSingleMetric(RATE_LIMITED_METRIC) as Counter<"limit"> | undefined) ??
        new Counter({
          name: RATE_LIMITED_METRIC,
          help: "OFREP requests answered 429 because their client key (limit=key) or, without a valid key, their remote address (limit=address) was over its rate limit",
          labelNames: ["limit"],
          registers: [registry],
        }));
  let warnedAt = Number.NEGATIVE_INFINITY;
  return {
    keys,
    addresses,
    refused: (limit) => {
      counter?.inc({ limit });
      const now = opts.clock.now();
      // A flood would otherwise write a line per request.
      if (now - warnedAt >= 60_000) {
        warnedAt = now;
        opts.log.warn(
          { limit, metric: RATE_LIMITED_METRIC },
          "OFREP requests over the rate limit are answered 429 (logged at most once a minute)",
        );
      }
    },
  };
}

export async function startOfrep(opts: OfrepOptions, at: ListenAddress): Promise<OfrepServer> {
  const maxBody = opts.maxBodyBytes ?? 65_536;
  const headersTimeout = opts.headersTimeoutMs ?? 10_000;
  const streams = new ChangeStreams({
    maxStreams: opts.maxStreams ?? 1_000,
    heartbeatMs: opts.heartbeatMs ?? 15_000,
    keyKnown: (name) => opts.tokens.clientKeyHashes(name).length > 0,
  });
  const limits = limiter(opts);
  const off = opts.flags.onUpdate((set) => streams.changed(set));
  const server = createServer(
    {
      headersTimeout,
      requestTimeout: Math.max(opts.requestTimeoutMs ?? 15_000, headersTimeout),
      keepAliveTimeout: 5_000,
      // Node's default check every 30 s would let a half-sent head live far past its timeout.
      connectionsCheckingInterval: Math.min(1_000, Math.max(50, Math.floor(headersTimeout / 4))),
    },
    (req, res) => {
      handle(req, res, opts, streams, limits, maxBody).catch((err: unknown) => {
        opts.log.error({ err: String(err) }, "OFREP request failed");
        if (!res.headersSent) send(res, 500, { errorDetails: "internal error" });
        else res.destroy();
      });
    },
  );
  // The router's rule on this process's descriptors, capped lower: an evaluation holds no
  // upstream connection, but the router's clients and their upstreams share the same budget.
  server.maxConnections =
    opts.maxConnections ?? Math.min(4_096, defaultMaxConnections(openFilesSoftLimit()));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const info = server.address();
  const address =
    info === null || typeof info === "string" ? at : { host: info.address, port: info.port };
  return {
    address,
    server,
    streams,
    buckets: {
      get keys() {
        return limits.keys.size;
      },
      get addresses() {
        return limits.addresses.size;
      },
    },
    close: async () => {
      off();
      streams.closeAll();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  opts: OfrepOptions,
  streams: ChangeStreams,
  limits: Limiter,
  maxBody: number,
): Promise<void> {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const path = q === -1 ? url : url.slice(0, q);
  if (req.method === "OPTIONS") return preflight(res);
  if (path === CHANGES_PATH) return openStream(req, res, opts, streams, limits, url);
  if (isFlagRoute(path))
    return handleFlagRoute(req, res, path, opts, (who) => admitted(req, res, limits, who));
  const single = path.startsWith(`${OFREP_PREFIX}/`);
  if (!single && path !== OFREP_PREFIX)
    return send(res, 404, { errorDetails: `no route ${path}; OFREP is under ${OFREP_PREFIX}` });
  if (req.method !== "POST") {
    res.setHeader("allow", "POST, OPTIONS");
    return send(res, 405, { errorDetails: `${req.method} ${path}: OFREP evaluates with POST` });
  }
  // Who asks, before any of the body is read: a stranger's body costs nothing.
  const who = checkClientKey(opts.tokens, req.headers);
  if (!admitted(req, res, limits, who)) return;
  if (!who.ok) return refuse(res, who.status);
  let key: string | undefined;
  if (single) {
    try {
      key = decodeURIComponent(path.slice(OFREP_PREFIX.length + 1));
    } catch {
      key = path.slice(OFREP_PREFIX.length + 1);
    }
  }
  const body = await readJson(req, res, maxBody);
  if (body === undefined) return;
  if (!body.ok) return fail(res, 400, { ...(key !== undefined ? { key } : {}), ...body.failure });
  const context = contextOf(body.value);
  if (!context.ok)
    return fail(res, 400, { ...(key !== undefined ? { key } : {}), ...context.failure });
  const set = opts.flags.current;
  if (key !== undefined) {
    const flag = set.flags.get(key);
    if (flag === undefined)
      return fail(res, 404, {
        key,
        errorCode: "FLAG_NOT_FOUND",
        errorDetails: `no flag ${key} in the applied spec`,
      });
    const r = evaluationBody(flag, context.ctx);
    return send(res, r.status, r.body);
  }
  const text = JSON.stringify(bulkBody(set, context.ctx, eventStreams(opts, who.identity.name)));
  sendTagged(req, res, text);
}

/** A 200 with a strong ETag over `text`, or a 304 when the client already holds it. */
export function sendTagged(req: IncomingMessage, res: ServerResponse, text: string): void {
  const etag = etagOf(text);
  res.setHeader("etag", etag);
  if (noneMatch(req.headers["if-none-match"], etag)) {
    res.writeHead(304, CORS);
    res.end();
    return;
  }
  sendText(res, 200, text);
}

/**
 * Where the client hears of changes: this listener's stream, with a ticket for its key. As a
 * path only (ADR-0008's `endpoint` without `origin`): the provider puts it on the origin of its
 * own base URL, which has the scheme and host the client really uses (a TLS proxy in front
 * included); the request's Host header would not say the scheme, and is the client's to set.
 */
function eventStreams(opts: OfrepOptions, name: string): Record<string, unknown>[] {
  const ticket = issueTicket(opts.tokens, name, opts.clock.now());
  if (ticket === undefined) return [];
  const requestUri = `${CHANGES_PATH}?ticket=${encodeURIComponent(ticket)}`;
  return [{ type: "sse", endpoint: { requestUri }, inactivityDelaySec: 120 }];
}

function openStream(
  req: IncomingMessage,
  res: ServerResponse,
  opts: OfrepOptions,
  streams: ChangeStreams,
  limits: Limiter,
  url: string,
): void {
  if (req.method !== "GET") {
    res.setHeader("allow", "GET, OPTIONS");
    send(res, 405, { errorDetails: `${req.method} ${CHANGES_PATH}: the stream is a GET` });
    return;
  }
  const ticket = new URL(url, "http://x").searchParams.get("ticket");
  let who: KeyCheck | { ok: true; name: string };
  if (ticket !== null) {
    const name = checkTicket(opts.tokens, ticket, opts.clock.now());
    who = name === undefined ? { ok: false, status: 401, why: "bad ticket" } : { ok: true, name };
  } else {
    const c = checkClientKey(opts.tokens, req.headers);
    who = c.ok ? { ok: true, name: c.identity.name } : c;
  }
  if (!admitted(req, res, limits, who)) return;
  if (!who.ok) {
    refuse(res, who.status);
    return;
  }
  const key = who.name;
  if (!streams.add(res, key, CORS)) {
    res.setHeader("retry-after", "30");
    send(res, 503, { errorDetails: "too many change streams are open; try again later" });
  }
}

/**
 * Charges the request to its client key, or to its remote address when it has no valid key
 * (rate-limit.ts says why), and answers 429 when that is over its limit.
 */
function admitted(
  req: IncomingMessage,
  res: ServerResponse,
  limits: Limiter,
  who: { ok: true; name: string } | KeyCheck,
): boolean {
  const name = who.ok ? ("name" in who ? who.name : who.identity.name) : undefined;
  const wait =
    name !== undefined
      ? limits.keys.take(name)
      : limits.addresses.take(addressBucket(req.socket.remoteAddress));
  if (wait === 0) return true;
  limits.refused(name !== undefined ? "key" : "address");
  // OFREP gives 429 a Retry-After and no body; the published providers pause until then.
  res.writeHead(429, {
    ...CORS,
    "retry-after": String(retryAfterSeconds(wait)),
    "content-length": "0",
  });
  res.end();
  return false;
}

/** 401 and 403 carry no body, as OFREP says. */
export function refuse(res: ServerResponse, status: 401 | 403): void {
  if (status === 401) res.setHeader("www-authenticate", 'Bearer realm="aviary-ofrep"');
  res.writeHead(status, { ...CORS, "content-length": "0" });
  res.end();
}

function preflight(res: ServerResponse): void {
  res.writeHead(204, {
    ...CORS,
    "access-control-allow-methods": "POST, GET, OPTIONS",
    "access-control-allow-headers": "Authorization, X-API-Key, Content-Type, If-None-Match",
    "access-control-max-age": "600",
  });
  res.end();
}

function fail(res: ServerResponse, status: number, failure: Failure): void {
  send(res, status, failure);
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON.stringify(body));
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    ...CORS,
    "content-type": JSON_TYPE,
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

type Read = { ok: true; value: unknown } | { ok: false; failure: Failure };

/**
 * The body as JSON, or why not (PARSE_ERROR). Answers itself, and returns undefined, for what
 * is no evaluation request at all: a body too large (413, and the connection is closed rather
 * than drained) or not JSON (415). An empty body is an empty request (no context).
 */
export async function readJson(
  req: IncomingMessage,
  res: ServerResponse,
  maxBody: number,
): Promise<Read | undefined> {
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  const chunked = req.headers["transfer-encoding"] !== undefined;
  if (!chunked && (Number.isNaN(declared) || declared === 0)) return { ok: true, value: {} };
  const type = req.headers["content-type"];
  if (type === undefined || !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    tooBadToRead(res, 415, `the body must be ${JSON_TYPE}, got ${type ?? "no Content-Type"}`);
    return undefined;
  }
  if (declared > maxBody) {
    tooBadToRead(res, 413, `the body is over ${maxBody} bytes`);
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > maxBody) {
        tooBadToRead(res, 413, `the body is over ${maxBody} bytes`);
        return undefined;
      }
      chunks.push(chunk as Buffer);
    }
  } catch {
    // The client went away mid-body: nobody to answer.
    res.destroy();
    return undefined;
  }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString("utf8")) };
  } catch (err) {
    return {
      ok: false,
      failure: {
        errorCode: "PARSE_ERROR",
        errorDetails: `the body is not JSON: ${(err as Error).message}`,
      },
    };
  }
}

/** Answers and closes the connection: the rest of the body is never read. */
function tooBadToRead(res: ServerResponse, status: number, errorDetails: string): void {
  res.shouldKeepAlive = false;
  res.setHeader("connection", "close");
  send(res, status, { errorDetails });
}
