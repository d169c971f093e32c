/**
 * The embedded router: an HTTP reverse proxy that decides per request (match route → sticky
 * bucket → weight) and streams the exchange through a keep-alive undici pool. It serves the
 * last plan it was given; {@link Router.apply} swaps in a new one atomically, and a request
 * always finishes on the plan it started with.
 *
 * @module
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import type { ProxySettings, Service } from "../spec/schema.js";
import type { ListenAddress } from "../util/address.js";
import { addressMatcher } from "../util/cidr.js";
import { type Clock, systemClock, type TimerHandle } from "../util/clock.js";
import { parseDuration } from "../util/duration.js";
import { bySpecificity, compileService, targetsOf } from "./compile.js";
import { defaultMaxConnections, FD_RESERVE, openFilesSoftLimit } from "./connection-cap.js";
import { chooseVersion, findService } from "./decide.js";
import { Exchange, type ExchangeOwner } from "./exchange.js";
import { forwardRequestHeaders } from "./headers.js";
import { HealthChecks } from "./health.js";
import type { MetricsRegistry } from "./metrics/registry.js";
import { Mirrorer } from "./mirror.js";
import { normalizeRequestUrl } from "./path.js";
import type { RouterPlan, ServicePlan } from "./plan.js";
import {
  ALLOWED_METHODS,
  guardServer,
  RejectionCounters,
  type RejectReason,
} from "./rejections.js";
import { HeaderSlots } from "./request-view.js";
import { registerRouterMetrics } from "./router-metrics.js";
import { type Target, TargetRegistry } from "./targets.js";
import { proxyUpgrade } from "./upgrade.js";
import { classifyUpstreamError } from "./upstream-errors.js";

interface Served {
  readonly service: Service;
  readonly plan: ServicePlan;
  readonly order: number;
}

function versionNames(plan: ServicePlan | undefined): string[] {
  if (plan === undefined) return [];
  return plan.canary === undefined ? [plan.stable.name] : [plan.stable.name, plan.canary.name];
}

function versionKey(service: string, version: string): string {
  return JSON.stringify([service, version]);
}

const kOpenExchanges = Symbol("aviary.openExchanges");
type TrackedSocket = Socket & { [kOpenExchanges]?: Set<Exchange> };

export interface RouterOptions {
  metrics: MetricsRegistry;
  proxy: ProxySettings;
  log: Logger;
  clock?: Clock;
  /** How long a version's metrics stay queryable after the router stops serving it (default 15 min). */
  retainRetiredMs?: number;
  /**
   * The router binds before its owner knows what to serve (a port that is taken must fail the
   * start before this instance joins the cluster). Until `open()`, a request that matches no
   * service is told to retry (503, Retry-After: 1) rather than that no service exists (404).
   */
  startsClosed?: boolean;
}

export class Router implements ExchangeOwner {
  readonly #metrics: MetricsRegistry;
  readonly #proxy: ProxySettings;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #targets = new TargetRegistry();
  readonly #health: HealthChecks;
  readonly #mirror: Mirrorer;
  readonly #server: Server;
  #plan: RouterPlan;
  readonly #slots = new HeaderSlots();
  /**
   * Each service served now: its spec, its compiled plan and its place in the spec (which
   * breaks ties in the plan's order). Kept in that place's order.
   */
  #entries = new Map<string, Served>();
  #nextOrder = 0;
  readonly #trustedProxy: ((address: string) => boolean) | undefined;
  readonly #retainRetiredMs: number;
  /** Versions no longer served, each with the timer that will drop its metrics. */
  readonly #retiring = new Map<string, TimerHandle>();
  /** The services as last applied, rebuilt from {@link #entries} when read after a one-service change. */
  #services: readonly Service[] | undefined = [];
  #inFlight = 0;
  #draining = false;
  #open: boolean;
  #drained: (() => void) | undefined;
  readonly #rejections = new RejectionCounters();
  /** Client sockets of upgraded connections (WebSockets), open until either side closes. */
  readonly #tunnels = new Set<Socket>();
  #connections = 0;
  readonly #maxConnections: number;
  /** Exchanges whose body is being streamed upstream, watched for stalls by one sweep timer. */
  readonly #uploads = new Set<Exchange>();
  readonly #bodyTimeoutMs: number;
  readonly #sweep: NodeJS.Timeout;

  constructor(opts: RouterOptions) {
    const router = this;
    this.#metrics = opts.metrics;
    this.#proxy = opts.proxy;
    this.#log = opts.log;
    this.#clock = opts.clock ?? systemClock;
    this.#health = new HealthChecks(this.#clock, this.#log);
    this.#mirror = new Mirrorer(opts.proxy, this.#clock);
    this.#retainRetiredMs = opts.retainRetiredMs ?? 15 * 60_000;
    this.#open = opts.startsClosed !== true;
    this.#trustedProxy = addressMatcher(opts.proxy.trustedProxies);
    this.#plan = {
      services: [],
      slots: this.#slots,
      hostSlot: this.#slots.slot("host"),
      generation: 1,
      trustedProxy: this.#trustedProxy,
    };
    const openFiles = openFilesSoftLimit();
    this.#maxConnections = opts.proxy.maxConnections ?? defaultMaxConnections(openFiles);
    // An explicit cap the descriptors cannot back: said once, at start, not discovered at EMFILE.
    const explicit = opts.proxy.maxConnections !== undefined;
    if (explicit && openFiles !== undefined && 2 * this.#maxConnections + FD_RESERVE > openFiles)
      this.#log.warn(
        { maxConnections: this.#maxConnections, openFilesLimit: openFiles, reserve: FD_RESERVE },
        "proxy.maxConnections is more than the open-files limit can hold with upstream connections and the admin API's reserve",
      );
    this.#bodyTimeoutMs = parseDuration(opts.proxy.requestBodyTimeout) as number;
    // One timer for every upload, not one per request: a stall is noticed between
    // requestBodyTimeout and a quarter of it later.
    this.#sweep = setInterval(
      () => this.#sweepUploads(),
      Math.max(50, Math.min(1_000, this.#bodyTimeoutMs / 4)),
    );
    this.#sweep.unref();
    registerRouterMetrics(opts.metrics.prometheus, {
      get inFlight() {
        return router.#inFlight;
      },
      get mirrorStats() {
        return router.#mirror.stats;
      },
      get plan() {
        return router.#plan;
      },
      now: () => this.#clock.now(),
      rejections: this.#rejections,
      connections: {
        get open() {
          return router.#connections;
        },
        get max() {
          return router.#maxConnections;
        },
      },
    });
    this.#server = createServer(
      {
        maxHeaderSize: opts.proxy.maxHeaderSize,
        keepAliveTimeout: parseDuration(opts.proxy.keepAliveTimeout) as number,
        // Never be lenient: ambiguous framing (both Content-Length and Transfer-Encoding) is a
        // request-smuggling vector, and Node's strict parser answers it with 400.
        insecureHTTPParser: false,
      },
      this.#handle,
    );
    guardServer(this.#server, this.#rejections, this.#maxConnections);
    // One set per client connection (not a listener per request): what is still in flight
    // when the client goes away is stopped upstream at once.
    this.#server.on("connection", (socket: TrackedSocket) => {
      const open = new Set<Exchange>();
      socket[kOpenExchanges] = open;
      this.#connections++;
      socket.once("close", () => {
        this.#connections--;
        for (const ex of open) ex.clientGone();
      });
    });
    this.#server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
      // An upgraded socket leaves the HTTP server's bookkeeping (closeAllConnections does not
      // see it) but still holds server.close() open: kept here so a drain can end it.
      this.#tunnels.add(socket);
      socket.once("close", () => this.#tunnels.delete(socket));
      proxyUpgrade(req, socket, head, this.#plan, this.#clock, this.#rejections);
    });
  }

  /** The services being served, as last applied. */
  get services(): readonly Service[] {
    this.#services ??= Array.from(this.#entries.values(), (e) => e.service);
    return this.#services;
  }

  /** The compiled plan of one service in force, or undefined when it is not served. */
  servicePlan(name: string): ServicePlan | undefined {
    return this.#entries.get(name)?.plan;
  }

  /** Targets with an open pool (for tests and introspection). */
  get targetCount(): number {
    return this.#targets.size;
  }

  /** Health checks running (for tests and introspection). */
  get healthCheckCount(): number {
    return this.#health.size;
  }

  /** The compiled plan in force (for tests and introspection). */
  get plan(): RouterPlan {
    return this.#plan;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Requests and connections the router refused by itself, by reason. */
  get rejections(): RejectionCounters {
    return this.#rejections;
  }

  /** Client connections open now. */
  get connectionsOpen(): number {
    return this.#connections;
  }

  /** The connection cap in force (`proxy.maxConnections` or the default). */
  get maxConnections(): number {
    return this.#maxConnections;
  }

  /** Mirror copies dropped because the concurrency bound was reached or the body too large. */
  get mirrorStats(): { inFlight: number; dropped: number; sent: number } {
    return this.#mirror.stats;
  }

  /**
   * Serves `services` from now on: the desired state, not a delta, so applying the same state
   * twice changes nothing. Requests already under way finish on the plan they started with;
   * pools no longer named close once their in-flight requests are done. A service given as the
   * same object as before keeps its compiled plan (and everything hanging from it).
   */
  apply(services: readonly Service[]): void {
    const next = new Map<string, Served>();
    const changed: Served[] = [];
    try {
      services.forEach((service, order) => {
        if (next.has(service.name))
          throw new Error(`router: two services are named "${service.name}"`);
        const cur = this.#entries.get(service.name);
        const plan = cur?.service === service ? cur.plan : this.#compileService(service);
        const entry = { service, plan, order };
        next.set(service.name, entry);
        if (plan !== cur?.plan) changed.push(entry);
      });
    } catch (err) {
      this.#targets.closeUnheld();
      throw err;
    }
    // Every new hold before any release: a target moving from one service to another stays open.
    for (const e of changed) this.#targets.hold(targetsOf(e.plan));
    const before = this.#entries;
    this.#entries = next;
    this.#nextOrder = services.length;
    this.#services = services;
    this.#swap(
      [...next.values()]
        .sort((x, y) => bySpecificity(x.plan, x.order, y.plan, y.order))
        .map((e) => e.plan),
    );
    for (const e of changed) this.#settle(e.service.name, before.get(e.service.name)?.plan, e);
    for (const [name, old] of before) if (!next.has(name)) this.#settle(name, old.plan, undefined);
  }

  /**
   * Serves `service` (a new one, or a new state of one served) and leaves every other service
   * as it is: their plans stay the same objects, and the work done (compiling, holding targets,
   * health checks, metrics) is this service's only. The new plan object is swapped in whole, as
   * {@link apply} does.
   */
  applyService(service: Service): void {
    const cur = this.#entries.get(service.name);
    if (cur?.service === service) return;
    let plan: ServicePlan;
    try {
      plan = this.#compileService(service);
    } catch (err) {
      this.#targets.closeUnheld();
      throw err;
    }
    this.#targets.hold(targetsOf(plan));
    const entry: Served = { service, plan, order: cur?.order ?? this.#nextOrder++ };
    const list = this.#plan.services;
    let services: ServicePlan[];
    if (
      cur !== undefined &&
      cur.plan.host === plan.host &&
      cur.plan.pathPrefix === plan.pathPrefix
    ) {
      // Same place in the order: one slot changes.
      services = list.slice();
      services[list.indexOf(cur.plan)] = plan;
    } else {
      services = cur === undefined ? list.slice() : list.filter((p) => p !== cur.plan);
      services.splice(this.#placeOf(services, entry), 0, plan);
    }
    this.#entries.set(service.name, entry);
    this.#services = undefined;
    this.#swap(services);
    this.#settle(service.name, cur?.plan, entry);
  }

  /** From now on a request that matches no service gets 404 (see `startsClosed`). */
  open(): void {
    this.#open = true;
  }

  /** Stops serving one service; the others' plans stay the same objects. */
  removeService(name: string): void {
    const cur = this.#entries.get(name);
    if (cur === undefined) return;
    this.#entries.delete(name);
    this.#services = undefined;
    this.#swap(this.#plan.services.filter((p) => p !== cur.plan));
    this.#settle(name, cur.plan, undefined);
  }

  async listen(address: ListenAddress): Promise<ListenAddress> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(address.port, address.host, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    const info = this.#server.address() as AddressInfo;
    return { host: info.address, port: info.port };
  }

  /**
   * Graceful shutdown: stop accepting, close idle keep-alive connections, let in-flight
   * requests finish (their responses carry `Connection: close`), and after the drain timeout
   * close whatever is left.
   */
  async close(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    if (this.#inFlight > 0) {
      const timeout = parseDuration(this.#proxy.drainTimeout) as number;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeout);
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.#server.closeAllConnections();
    // Open tunnels (WebSockets) have no request to finish: they end with the drain.
    for (const socket of this.#tunnels) socket.destroy();
    await closed;
    this.#health.stop();
    clearInterval(this.#sweep);
    for (const t of this.#retiring.values()) t.cancel();
    await this.#mirror.drain();
    await this.#targets.closeAll();
  }

  /** A new plan object with `services` in force: what requests starting from now read. */
  #swap(services: readonly ServicePlan[]): void {
    this.#plan = {
      services,
      slots: this.#slots,
      hostSlot: this.#plan.hostSlot,
      generation: this.#plan.generation + 1,
      trustedProxy: this.#trustedProxy,
    };
  }

  /** Where `entry`'s plan goes in `services` (sorted, without it) to keep the order. */
  #placeOf(services: readonly ServicePlan[], entry: Served): number {
    let lo = 0;
    let hi = services.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const other = services[mid] as ServicePlan;
      const order = this.#entries.get(other.name)?.order ?? 0;
      if (bySpecificity(other, order, entry.plan, entry.order) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * What follows one service's change once the new plan is in force, for that service only:
   * the old plan's targets released (after the new plan's were held), health checks following
   * the targets now served, and the metrics of versions no longer served set to retire.
   */
  #settle(name: string, old: ServicePlan | undefined, now: Served | undefined): void {
    if (old !== undefined) this.#targets.release(targetsOf(old));
    if (now !== undefined) this.#health.follow(now.service, now.plan);
    else this.#health.forget(name);
    this.#retireVersions(name, old, now?.plan);
  }

  /**
   * A version the router no longer serves keeps its metrics for a while (analyses and
   * Prometheus still read them), then they are dropped, so memory does not grow with every
   * deploy. A version served again before then keeps them.
   */
  #retireVersions(
    service: string,
    old: ServicePlan | undefined,
    now: ServicePlan | undefined,
  ): void {
    const served = versionNames(now);
    for (const version of served) {
      const key = versionKey(service, version);
      this.#retiring.get(key)?.cancel();
      this.#retiring.delete(key);
    }
    for (const version of versionNames(old)) {
      const key = versionKey(service, version);
      if (served.includes(version) || this.#retiring.has(key)) continue;
      this.#retiring.set(
        key,
        this.#clock.setTimeout(() => {
          this.#retiring.delete(key);
          this.#metrics.forget(service, version);
        }, this.#retainRetiredMs),
      );
    }
  }

  #compileService(service: Service): ServicePlan {
    return compileService(service, {
      targets: this.#targets,
      metrics: this.#metrics,
      proxy: this.#proxy,
      slots: this.#slots,
    });
  }

  readonly #handle = (req: IncomingMessage, res: ServerResponse): void => {
    const plan = this.#plan;
    // What the router cannot proxy correctly is refused before anything else is read.
    if (req.httpVersionMajor !== 1 || req.method === "TRACE") {
      this.#refuseLine(req, res);
      return;
    }
    // Matched and forwarded normalised (path.ts); a path with no safe reading is refused.
    if (!normalizeRequestUrl(req)) {
      this.#reject(res, "bad_request", 400, "the request path is malformed\n", true);
      return;
    }
    const ex = new Exchange(req, res, plan, this, performance.now());
    ex.forwardHeaders = forwardRequestHeaders(req.rawHeaders, ex, plan.trustedProxy);
    // A second Host (the capture joins repeats with ", ", which no valid Host contains) is
    // ambiguous — which service, which name upstream? — and undici would refuse to send it.
    const host = ex.captured[plan.hostSlot];
    if (host !== undefined && host.indexOf(",") !== -1) {
      this.#reject(res, "bad_request", 400, "bad request\n", true);
      return;
    }
    const svc = findService(plan, ex.captured[plan.hostSlot], ex.url);
    if (svc === undefined) {
      if (this.#open) respondPlain(res, 404, "no service matches this request\n", this.#draining);
      else respondPlain(res, 503, "the router is starting\n", true, "retry-after", "1");
      return;
    }
    ex.service = svc;
    let version = chooseVersion(svc, ex);
    // A canary with no target in rotation gets no users: stable answers them.
    if (version === svc.canary && !version.targets.anyAvailable(this.#clock.now()))
      version = svc.stable;
    ex.version = version;
    ex.body = ex.hasBody ? req : null;
    const mirror = svc.mirror;
    if (
      mirror !== undefined &&
      ex.version !== svc.canary &&
      Math.random() * 10_000 < mirror.thresholdBp &&
      mirror.methods.has(req.method as string) &&
      (mirror.test === undefined || mirror.test(ex))
    ) {
      this.#mirror.copy(ex, mirror);
    }
    this.#inFlight++;
    const open = (req.socket as TrackedSocket)[kOpenExchanges];
    if (open !== undefined) {
      open.add(ex);
      ex.openOnSocket = open;
    }
    this.#dispatch(ex);
  };

  #dispatch(ex: Exchange): void {
    const svc = ex.service!;
    const now = this.#clock.now();
    let target = ex.version!.targets.pick(now, ex.target);
    if (target.active >= target.capacity) {
      const room = this.#roomFor(ex, now);
      if (room === undefined) {
        // Every connection and queue place is taken: say so now rather than queue for ever.
        // The version did nothing wrong, so this is no failure of it or of a target.
        this.#reject(
          ex.res,
          "overload",
          503,
          "service overloaded\n",
          ex.hasBody,
          "retry-after",
          "1",
        );
        this.#finish(ex);
        return;
      }
      target = room;
    }
    ex.target = target;
    ex.attempts++;
    target.active++;
    target.pool.dispatch(
      {
        path: ex.url,
        method: ex.req.method as Dispatcher.HttpMethod,
        headers: ex.forwardHeaders,
        body: ex.body,
        headersTimeout: svc.responseTimeoutMs,
        bodyTimeout: svc.idleTimeoutMs,
      },
      ex as unknown as Dispatcher.DispatchHandler,
    );
  }

  /**
   * A target with room when the round-robin pick is full: another of the version's, else (for
   * the canary) one of stable's, which then answers the user, as it does when no canary target
   * is in rotation.
   */
  #roomFor(ex: Exchange, now: number): Target | undefined {
    const version = ex.version!;
    const t = version.targets.withRoom(now);
    if (t !== undefined) return t;
    const svc = ex.service!;
    if (version !== svc.canary) return undefined;
    const s = svc.stable.targets.withRoom(now);
    if (s !== undefined) ex.version = svc.stable;
    return s;
  }

  /** HTTP/0.9 or HTTP/2.0 on a request line (Node's parser takes both), or TRACE. */
  #refuseLine(req: IncomingMessage, res: ServerResponse): void {
    if (req.httpVersionMajor !== 1)
      this.#reject(res, "http_version", 505, "only HTTP/1.0 and HTTP/1.1 are served here\n", true);
    // TRACE would echo the request, cookies and all, as the upstream received it.
    else
      this.#reject(
        res,
        "method",
        405,
        "this method is not forwarded\n",
        true,
        "allow",
        ALLOWED_METHODS,
      );
  }

  /** Answers a request the router refuses itself, counted by reason and nowhere else. */
  #reject(
    res: ServerResponse,
    reason: RejectReason,
    status: number,
    message: string,
    close: boolean,
    extraName?: string,
    extraValue?: string,
  ): void {
    this.#rejections.requests[reason]++;
    // Close when a body may still be on its way: reading it only to discard it would let a
    // slow client hold the connection.
    respondPlain(res, status, message, close || this.#draining, extraName, extraValue);
  }

  /** Part of {@link ExchangeOwner}. */
  uploadStarted(ex: Exchange): void {
    ex.uploading = true;
    ex.bodyMark = ex.bodyChunks;
    ex.bodyIdleSince = performance.now();
    this.#uploads.add(ex);
  }

  /** Part of {@link ExchangeOwner}. */
  uploadEnded(ex: Exchange): void {
    ex.uploading = false;
    this.#uploads.delete(ex);
  }

  /** Cuts uploads that sent nothing for `proxy.requestBodyTimeout`. */
  #sweepUploads(): void {
    if (this.#uploads.size === 0) return;
    const now = performance.now();
    for (const ex of this.#uploads) {
      if (ex.bodyChunks !== ex.bodyMark) {
        ex.bodyMark = ex.bodyChunks;
        ex.bodyIdleSince = now;
      } else if (ex.body?.isPaused()) {
        // undici paused the body: the upstream is not reading (back-pressure), the client is
        // not the one stalling.
        ex.bodyIdleSince = now;
      } else if (now - ex.bodyIdleSince >= this.#bodyTimeoutMs) {
        this.uploadEnded(ex);
        ex.uploadStalled();
      }
    }
  }

  /** Part of {@link ExchangeOwner}. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Part of {@link ExchangeOwner}: the response went out whole. */
  completed(ex: Exchange): void {
    const version = ex.version!;
    ex.target!.active--;
    version.recorder.response(ex.status, performance.now() - ex.startedAt);
    ex.target!.recordResponse(ex.status >= 500, version.targets.policy, this.#clock.now());
    this.#finish(ex);
  }

  /** Part of {@link ExchangeOwner}: the upstream exchange failed or the client left. */
  failed(ex: Exchange, err: Error & { code?: string }): void {
    const now = this.#clock.now();
    const version = ex.version!;
    const target = ex.target!;
    const elapsed = performance.now() - ex.startedAt;
    const res = ex.res;
    target.active--;
    if (ex.clientLeft || res.destroyed) {
      // The client left first; not the upstream's fault, and nobody to answer.
      if (res.headersSent) version.recorder.response(ex.status, elapsed);
      this.#finish(ex);
      return;
    }
    const failure = classifyUpstreamError(err);
    if (failure.blame === "request") {
      // The request was bad or the upload stalled: Aviary's answer, not the version's failure,
      // and nothing against the target (else a few malformed requests could eject a canary).
      if (!res.headersSent)
        this.#reject(res, failure.reason, failure.status, failure.message, true);
      else {
        this.#rejections.requests[failure.reason]++;
        res.destroy();
      }
      this.#log.debug(
        { service: version.service, version: version.name, code: failure.code },
        "request refused",
      );
      this.#finish(ex);
      return;
    }
    // A reset mid-body says little about the target's health; refusals and timeouts do.
    if (failure.kind !== "reset" || !res.headersSent)
      target.recordFailure(version.targets.policy, now);
    if (failure.retryable && !ex.hasBody && !res.headersSent && ex.attempts < 2) {
      if (version.targets.hasAlternative(target, now)) {
        this.#dispatch(ex);
        return;
      }
      // The canary could not be reached at all: the failure counts against the canary (the
      // analysis must see it), and the user is answered by stable instead.
      const svc = ex.service!;
      if (version === svc.canary) {
        version.recorder.failure(failure.kind, elapsed);
        ex.version = svc.stable;
        ex.target = undefined;
        this.#dispatch(ex);
        return;
      }
    }
    version.recorder.failure(failure.kind, elapsed);
    if (!res.headersSent) {
      respondPlain(res, failure.status, failure.message, this.#draining);
    } else {
      // Headers are out: the only honest signal left is to cut the connection.
      res.destroy();
    }
    this.#log.debug(
      {
        service: version.service,
        version: version.name,
        target: target.origin,
        code: failure.code,
      },
      "upstream failure",
    );
    this.#finish(ex);
  }

  #finish(ex: Exchange): void {
    ex.openOnSocket?.delete(ex);
    if (ex.uploading) this.uploadEnded(ex);
    if (--this.#inFlight === 0 && this.#drained !== undefined) this.#drained();
  }
}

/** A short plain-text answer from Aviary itself (no internals, no stack). */
function respondPlain(
  res: ServerResponse,
  status: number,
  body: string,
  close: boolean,
  extraName?: string,
  extraValue?: string,
): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    via: "1.1 aviary",
    ...(close ? { connection: "close" } : {}),
    ...(extraName !== undefined ? { [extraName]: extraValue } : {}),
  });
  res.end(body);
}
