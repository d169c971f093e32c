/**
 * `aviary router`: the data plane alone. It follows the control plane's fleet state by long
 * polling any of its instances, serves it with the embedded {@link Router} (the same atomic
 * plan swap as `aviary serve`), keeps the last state it took on disk and serves that from the
 * start, before it has heard from anyone, and reports what it serves and its per-version
 * seconds every 2 s so the leader judges the whole fleet's traffic.
 *
 * Nothing the control plane does can stop it serving: an unreachable control plane, a
 * database down, a state it refuses (older than its own, or invalid) all leave the plan it
 * has in force. It says what it serves, and since when it has not heard from the control
 * plane, in its log and on its status address.
 *
 * @module
 */

import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { isDeepStrictEqual } from "node:util";
import { MetricsRegistry } from "../dataplane/metrics/registry.js";
import { Router } from "../dataplane/router.js";
import type { Service } from "../spec/schema.js";
import type { ListenAddress } from "../util/address.js";
import { type Clock, systemClock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { canonicalJson, sameJson } from "../util/same-json.js";
import { ControlClient } from "./control-client.js";
import { loadState, saveState } from "./disk-state.js";
import { type CheckedFleetState, checkFleetState, type FleetState, mergeNewer } from "./state.js";
import { exportWindows, MAX_REPORT_SECONDS, REPORT_HORIZON_S } from "./windows.js";

/** Under the admin API's 1 MiB body limit, with room for the rest of the report. */
const MAX_REPORT_BODY = 900_000;

export interface FleetRouterOptions {
  id: string;
  controls: readonly string[];
  token: string;
  listen: ListenAddress;
  /** The status endpoint (`GET /status`, `GET /healthz`); loopback by default. */
  status: ListenAddress;
  dataDir: string;
  log: Logger;
  clock?: Clock;
  /** How often it reports (default 2 s). */
  reportIntervalMs?: number;
  /** How long one long poll waits for a change (default 25 s). */
  waitMs?: number;
}

export interface FleetRouterStatus {
  id: string;
  /** Where the state in force came from. */
  source: "control-plane" | "disk" | "none";
  specRevision: number | null;
  services: Array<{ name: string; revision: number; weight: number }>;
  /** When the state in force was taken (ms), and from which address. */
  servingSince: number | null;
  from: string | null;
  /** Last answer from any control-plane instance (ms), null before the first. */
  lastContactAt: number | null;
  /** Ms since then (or since the start, before the first). */
  sinceContactMs: number;
  control: string;
  lastError: string | null;
  listen: string | null;
}

export class FleetRouter {
  readonly #o: Required<Omit<FleetRouterOptions, "clock">> & { clock: Clock };
  readonly #client: ControlClient;
  readonly #startedAt: number;
  #router: Router | undefined;
  #metrics: MetricsRegistry | undefined;
  #proxyInForce: unknown;
  #windowMsInForce = 0;
  #state: FleetState | undefined;
  /** Each service as last composed, reused while its entry is the same (no recompiling). */
  #composed = new Map<string, { key: string; service: Service }>();
  #etag: string | undefined;
  #source: FleetRouterStatus["source"] = "none";
  #servingSince: number | null = null;
  #from: string | null = null;
  #lastContactAt: number | null = null;
  #lastError: string | null = null;
  #loggedDownAt = 0;
  #listenBound: ListenAddress | undefined;
  /** Why the data-plane address could not be bound, until a later try binds it. */
  #listenError: unknown;
  #statusServer: Server | undefined;
  #stopped = false;
  readonly #abort = new AbortController();
  #reportTimer: NodeJS.Timeout | undefined;
  /** Last second the control plane acknowledged, so the next report starts after it. */
  #ackedTo: number | undefined;
  #follow: Promise<void> | undefined;

  constructor(opts: FleetRouterOptions) {
    this.#o = {
      clock: systemClock,
      reportIntervalMs: 2_000,
      waitMs: 25_000,
      ...opts,
    };
    this.#client = new ControlClient({ urls: opts.controls, token: opts.token });
    this.#startedAt = this.#o.clock.now();
  }

  /** Serves the state on disk, if any, then starts following and reporting. */
  async start(): Promise<void> {
    let disk: ReturnType<typeof loadState>;
    try {
      disk = loadState(this.#o.dataDir);
    } catch (err) {
      this.#o.log.error(
        { problem: (err as Error).message },
        "the saved fleet state cannot be used; waiting for the control plane",
      );
    }
    if (disk !== undefined) {
      await this.#serve(disk.checked, "disk", disk.saved.from, disk.saved.receivedAt);
      this.#o.log.warn(
        {
          specRevision: disk.saved.state.specRevision,
          services: disk.saved.state.services.length,
          receivedAt: new Date(disk.saved.receivedAt).toISOString(),
        },
        "serving the last known good fleet state from disk until the control plane answers",
      );
    }
    this.#statusServer = createServer((req, res) => {
      const status = this.status();
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/healthz") {
        res.writeHead(status.source === "none" ? 503 : 200, { "content-type": "application/json" });
        res.end(JSON.stringify({ serving: status.source !== "none" }));
        return;
      }
      if (path !== "/status") {
        res.writeHead(404, { "content-type": "text/plain" });
        res.end("GET /status or /healthz\n");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(`${JSON.stringify(status, null, 2)}\n`);
    });
    // Exclusive: in a `serve --workers` worker, node:cluster would otherwise share one socket
    // among the workers, and a status must be this router's own (outside a cluster it changes
    // nothing).
    this.#statusServer.listen({
      port: this.#o.status.port,
      host: this.#o.status.host,
      exclusive: true,
    });
    await once(this.#statusServer, "listening");
    this.#follow = this.#followLoop();
    this.#reportTimer = setInterval(() => void this.#report(false), this.#o.reportIntervalMs);
    this.#reportTimer.unref();
  }

  /** The status endpoint's address once bound. */
  get statusAddress(): ListenAddress | undefined {
    const a = this.#statusServer?.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  /** The data-plane address once serving. */
  get listenAddress(): ListenAddress | undefined {
    return this.#listenBound;
  }

  /**
   * Resolves once a state is served (from disk or the control plane) on the bound listen
   * address, or false after `ms`; rejects with the bind error if the address cannot be bound
   * (a state without a socket serves nobody, and a caller that waits for it must hear why).
   */
  async serving(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (this.#listenBound === undefined && Date.now() < until) {
      if (this.#listenError !== undefined) throw this.#listenError;
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.#listenBound !== undefined;
  }

  status(): FleetRouterStatus {
    const now = this.#o.clock.now();
    return {
      id: this.#o.id,
      source: this.#source,
      specRevision: this.#state?.specRevision ?? null,
      services: (this.#state?.services ?? []).map((s) => ({
        name: s.spec.name,
        revision: s.revision,
        weight: s.traffic.canary === null ? 0 : s.traffic.weight,
      })),
      servingSince: this.#servingSince,
      from: this.#from,
      lastContactAt: this.#lastContactAt,
      sinceContactMs: now - (this.#lastContactAt ?? this.#startedAt),
      control: this.#client.current,
      lastError: this.#lastError,
      listen: this.#listenBound ? `${this.#listenBound.host}:${this.#listenBound.port}` : null,
    };
  }

  /** Stops following; a clean stop tells the control plane it is leaving, then drains. */
  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#abort.abort();
    if (this.#reportTimer) clearInterval(this.#reportTimer);
    await this.#follow?.catch(() => undefined);
    await this.#report(true);
    await this.#client.close();
    await this.#router?.close();
    if (this.#statusServer) {
      const s = this.#statusServer;
      await new Promise<void>((r) => s.close(() => r()));
      s.closeAllConnections();
    }
  }

  async #followLoop(): Promise<void> {
    let backoff = 250;
    while (!this.#stopped) {
      try {
        const answer = await this.#client.state(this.#etag, this.#o.waitMs, this.#abort.signal);
        const wasDown = this.#lastError !== null;
        this.#lastContactAt = this.#o.clock.now();
        this.#lastError = null;
        backoff = 250;
        if (wasDown) this.#o.log.info({ control: answer.url }, "the control plane answers again");
        if (answer.changed) await this.#take(answer.body, answer.etag, answer.url);
      } catch (err) {
        if (this.#stopped) return;
        this.#lastError = (err as Error).message;
        const now = this.#o.clock.now();
        // Said at once, then every 30 s: a long outage is one line per half minute.
        if (now - this.#loggedDownAt >= 30_000) {
          this.#loggedDownAt = now;
          this.#o.log.warn(
            {
              problem: this.#lastError,
              serving: this.#source,
              specRevision: this.#state?.specRevision ?? null,
              sinceContactS: Math.round((now - (this.#lastContactAt ?? this.#startedAt)) / 1000),
            },
            "control plane unreachable; still serving the state in force",
          );
        }
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(5_000, backoff * 2);
      }
    }
  }

  /** A state from the control plane: checked, never older than ours, served, saved. */
  async #take(body: unknown, etag: string | undefined, url: string): Promise<void> {
    let checked: CheckedFleetState;
    try {
      checked = checkFleetState(body, `the fleet state from ${url}`);
    } catch (err) {
      this.#lastError = (err as Error).message;
      this.#o.log.error(
        { problem: this.#lastError },
        "fleet state refused; serving the one in force",
      );
      return;
    }
    const merged = mergeNewer(this.#state, checked.state);
    if (merged === undefined) {
      this.#o.log.warn(
        { got: checked.state.specRevision, serving: this.#state?.specRevision },
        "fleet state older than the one in force; refused",
      );
      this.#etag = etag;
      return;
    }
    if (merged !== checked.state) checked = checkFleetState(merged, "the merged fleet state");
    const now = this.#o.clock.now();
    await this.#serve(checked, "control-plane", url, now);
    this.#etag = etag;
    try {
      saveState(this.#o.dataDir, { receivedAt: now, from: url, state: checked.state });
    } catch (err) {
      this.#o.log.error(
        { problem: (err as Error).message, dataDir: this.#o.dataDir },
        "cannot save the fleet state; a restart without the control plane would serve an older one",
      );
    }
    // Said at once, so the leader sees the new revision served without waiting a period.
    void this.#report(false);
  }

  async #serve(
    checked: CheckedFleetState,
    source: FleetRouterStatus["source"],
    from: string,
    at: number,
  ): Promise<void> {
    const { state } = checked;
    if (this.#router === undefined) {
      this.#metrics = new MetricsRegistry({
        windowMs: state.metricsWindowMs,
        clock: this.#o.clock,
      });
      this.#router = new Router({
        metrics: this.#metrics,
        proxy: checked.proxy,
        log: this.#o.log,
        clock: this.#o.clock,
        retainRetiredMs: state.metricsWindowMs,
      });
      this.#proxyInForce = state.proxy;
      this.#windowMsInForce = state.metricsWindowMs;
    } else if (
      !isDeepStrictEqual(this.#proxyInForce, state.proxy) ||
      this.#windowMsInForce !== state.metricsWindowMs
    ) {
      this.#o.log.warn(
        {},
        "the spec's proxy or metrics settings changed; restart the router to take them",
      );
      this.#proxyInForce = state.proxy;
      this.#windowMsInForce = state.metricsWindowMs;
    }
    const services = checked.composed.map((service, i) => {
      const entry = state.services[i];
      const key = canonicalJson(entry);
      const cur = this.#composed.get(service.name);
      return cur !== undefined && cur.key === key ? cur : { key, service };
    });
    this.#router.apply(services.map((s) => s.service));
    this.#composed = new Map(services.map((s) => [s.service.name, s]));
    const changed = this.#state === undefined || !sameJson(this.#state, state);
    this.#state = state;
    this.#source = source;
    this.#from = from;
    if (changed || this.#servingSince === null) this.#servingSince = at;
    if (this.#listenBound === undefined) {
      try {
        this.#listenBound = await this.#router.listen(this.#o.listen);
        this.#listenError = undefined;
      } catch (err) {
        this.#listenError = err;
        throw err;
      }
    }
    if (changed)
      this.#o.log.info(
        {
          source,
          from,
          specRevision: state.specRevision,
          services: state.services.map(
            (s) =>
              `${s.spec.name}@${s.revision} ${s.traffic.canary === null ? 0 : s.traffic.weight}%`,
          ),
        },
        "serving fleet state",
      );
  }

  async #report(final: boolean): Promise<void> {
    const metrics = this.#metrics;
    const state = this.#state;
    if (metrics === undefined || state === undefined) return;
    const now = this.#o.clock.now();
    const to = Math.floor(now / 1000) - (final ? 0 : 1);
    const start = Math.floor(this.#startedAt / 1000);
    const back = Math.min(to - REPORT_HORIZON_S + 1, (this.#ackedTo ?? start - 1) + 1);
    const from = Math.max(start, back, to - MAX_REPORT_SECONDS + 1);
    const served: Record<string, { revision: number; weight: number }> = {};
    for (const s of state.services)
      served[s.spec.name] = {
        revision: s.revision,
        weight: s.traffic.canary === null ? 0 : s.traffic.weight,
      };
    // The admin API takes bodies up to 1 MiB: after a long outage, the oldest seconds give way.
    let windows = exportWindows(metrics, from, to, final);
    while (JSON.stringify(windows).length > MAX_REPORT_BODY && windows.to > windows.from)
      windows = exportWindows(
        metrics,
        windows.to - Math.floor((windows.to - windows.from) / 2),
        to,
        final,
      );
    try {
      await this.#client.report({
        router: this.#o.id,
        intervalMs: this.#o.reportIntervalMs,
        served,
        windows,
      });
      this.#ackedTo = Math.max(this.#ackedTo ?? to, to);
    } catch (err) {
      this.#lastError = (err as Error).message;
    }
  }
}
