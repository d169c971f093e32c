/**
 * What keeps each page current, apart from any component: the overview's list of services and
 * the rollout page's service, history and analysis are read once, then moved by the event
 * stream (patched at once from each event, then re-read, debounced, for the fields an event
 * does not carry); metrics are polled every few seconds while the page is visible. Each feed
 * reports a whole new state object on every change, for the page to render.
 *
 * @module
 */

import {
  type AnalysisRun,
  type ApiClient,
  ApiError,
  isAbort,
  type RolloutEvent,
  type ServiceMetrics,
  type ServiceView,
} from "./api.js";
import {
  applyEvent,
  applyEventToList,
  fresherView,
  lastSeq,
  mergeEvents,
  mergeMeasurement,
} from "./merge.js";
import type { EventStreamOptions, StreamStatus, Timers } from "./stream.js";

export type FeedApi = Pick<ApiClient, "services" | "service" | "history" | "analysis" | "metrics">;

export interface FeedDeps {
  api: FeedApi;
  openStream(opts: EventStreamOptions): { start(): void; close(): void };
  token(): string | null;
  timers: Timers;
  /** The token was refused while the page was open. */
  onUnauthorized(detail: string): void;
  /** A new event arrived live (for the page's live region). */
  onLiveEvent?(event: RolloutEvent): void;
}

/** Events read per history request. */
export const HISTORY_PAGE = 1_000;
/** How often the rollout page re-reads metrics while visible. */
export const SERVICE_METRICS_MS = 5_000;
/** How often the overview re-reads every service's health while visible. */
export const OVERVIEW_METRICS_MS = 10_000;
/** Quiet time after the last event before the view is re-read. */
export const REREAD_DEBOUNCE_MS = 150;
/** Wait before trying a failed first read again. */
export const RETRY_LOAD_MS = 5_000;

/** Rollout page window: five minutes in 5-second points. */
export const CHART_WINDOW = { window: "5m", step: "5s" } as const;
/** Overview health: the last minute as one summary. */
export const HEALTH_WINDOW = { window: "1m", step: "1m" } as const;

export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.detail;
  return err instanceof Error ? err.message : String(err);
}

/** The whole history, page by page, oldest first. */
export async function loadHistory(api: FeedApi, name: string): Promise<RolloutEvent[]> {
  let events: RolloutEvent[] = [];
  let after = 0;
  for (;;) {
    const page = (await api.history(name, after, HISTORY_PAGE)).events;
    events = mergeEvents(events, page);
    const last = page.at(-1);
    if (page.length < HISTORY_PAGE || last === undefined) return events;
    after = last.seq;
  }
}

export interface ServicePageState {
  view: ServiceView | null;
  history: RolloutEvent[];
  runs: AnalysisRun[];
  metrics: ServiceMetrics | null;
  /** Why the page cannot show the service (unknown service, server away). */
  error: string | null;
  metricsError: string | null;
  stream: StreamStatus;
}

/** The rollout page's data for one service. */
export class ServiceFeed {
  readonly #name: string;
  readonly #deps: FeedDeps;
  readonly #onChange: (s: ServicePageState) => void;
  #state: ServicePageState = {
    view: null,
    history: [],
    runs: [],
    metrics: null,
    error: null,
    metricsError: null,
    stream: { kind: "connecting" },
  };
  #stream: { start(): void; close(): void } | undefined;
  #stopped = false;
  #visible = true;
  #rereadTimer: unknown;
  #metricsTimer: unknown;
  #loadTimer: unknown;
  #metricsInFlight = false;
  /** A read was due while the page was hidden. */
  #metricsMissed = false;

  constructor(name: string, deps: FeedDeps, onChange: (s: ServicePageState) => void) {
    this.#name = name;
    this.#deps = deps;
    this.#onChange = onChange;
  }

  get state(): ServicePageState {
    return this.#state;
  }

  start(): void {
    void this.#load();
  }

  stop(): void {
    this.#stopped = true;
    this.#stream?.close();
    const t = this.#deps.timers;
    t.clearTimeout(this.#rereadTimer);
    t.clearTimeout(this.#metricsTimer);
    t.clearTimeout(this.#loadTimer);
  }

  /** The page became visible or hidden; metrics are read only while it is visible. */
  setVisible(visible: boolean): void {
    this.#visible = visible;
    if (visible && this.#metricsMissed) void this.#readMetrics();
  }

  /** Reads the view and analysis again now (after a command). */
  reread(): void {
    void this.#reread();
  }

  #set(patch: Partial<ServicePageState>): void {
    if (this.#stopped) return;
    this.#state = { ...this.#state, ...patch };
    this.#onChange(this.#state);
  }

  async #load(): Promise<void> {
    const { api } = this.#deps;
    try {
      const [view, history, analysis] = await Promise.all([
        api.service(this.#name),
        loadHistory(api, this.#name),
        api.analysis(this.#name),
      ]);
      if (this.#stopped) return;
      this.#set({ view, history, runs: analysis.runs, error: null });
    } catch (err) {
      if (this.#stopped || isAbort(err)) return;
      if (err instanceof ApiError && err.status === 401) {
        this.#deps.onUnauthorized(err.detail);
        return;
      }
      this.#set({ error: messageOf(err) });
      // An unknown service stays unknown; a server that is away may come back.
      if (!(err instanceof ApiError && (err.status === 404 || err.status === 403)))
        this.#loadTimer = this.#deps.timers.setTimeout(() => void this.#load(), RETRY_LOAD_MS);
      return;
    }
    this.#openStream();
    void this.#readMetrics();
  }

  #openStream(): void {
    const stream = this.#deps.openStream({
      url: `/api/v1/stream?service=${encodeURIComponent(this.#name)}`,
      token: this.#deps.token,
      lastEventId: lastSeq(this.#state.history),
      onEvent: (e) => this.#onEvent(e),
      onMeasurement: (m) => {
        const merged = mergeMeasurement(this.#state.runs, m);
        if (merged.known) this.#set({ runs: merged.runs });
        else this.#scheduleReread();
      },
      onStatus: (s) => {
        this.#set({ stream: s });
        // Anything that happened between the first reads and the stream: read again.
        if (s.kind === "live") this.#scheduleReread();
        if (s.kind === "unauthorized") this.#deps.onUnauthorized(s.detail);
      },
    });
    this.#stream = stream;
    stream.start();
  }

  #onEvent(e: RolloutEvent): void {
    if (e.service !== this.#name) return;
    // A replay after a reconnection repeats events the page has already applied.
    if (e.seq <= (this.#state.history.at(-1)?.seq ?? 0)) return;
    const view = this.#state.view === null ? null : applyEvent(this.#state.view, e);
    this.#set({ history: mergeEvents(this.#state.history, [e]), view });
    this.#deps.onLiveEvent?.(e);
    this.#scheduleReread();
  }

  #scheduleReread(): void {
    const t = this.#deps.timers;
    t.clearTimeout(this.#rereadTimer);
    this.#rereadTimer = t.setTimeout(() => void this.#reread(), REREAD_DEBOUNCE_MS);
  }

  async #reread(): Promise<void> {
    const { api } = this.#deps;
    try {
      const [view, analysis] = await Promise.all([
        api.service(this.#name),
        api.analysis(this.#name),
      ]);
      this.#set({ view: fresherView(this.#state.view, view), runs: analysis.runs, error: null });
    } catch (err) {
      if (this.#stopped || isAbort(err)) return;
      if (err instanceof ApiError && err.status === 401) this.#deps.onUnauthorized(err.detail);
      // Otherwise keep showing what the page has; the stream's status tells about the server.
    }
  }

  async #readMetrics(): Promise<void> {
    if (this.#stopped) return;
    const t = this.#deps.timers;
    t.clearTimeout(this.#metricsTimer);
    this.#metricsTimer = t.setTimeout(() => void this.#readMetrics(), SERVICE_METRICS_MS);
    this.#metricsMissed = !this.#visible;
    if (!this.#visible || this.#metricsInFlight) return;
    this.#metricsInFlight = true;
    try {
      const metrics = await this.#deps.api.metrics(
        this.#name,
        CHART_WINDOW.window,
        CHART_WINDOW.step,
      );
      this.#set({ metrics, metricsError: null });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) this.#deps.onUnauthorized(err.detail);
      else if (!isAbort(err)) this.#set({ metricsError: messageOf(err) });
    } finally {
      this.#metricsInFlight = false;
    }
  }
}

export interface OverviewState {
  views: ServiceView[] | null;
  metrics: Record<string, ServiceMetrics>;
  error: string | null;
  stream: StreamStatus;
}

/** The overview's data: every service, moved by the stream of all services. */
export class OverviewFeed {
  readonly #deps: FeedDeps;
  readonly #onChange: (s: OverviewState) => void;
  #state: OverviewState = { views: null, metrics: {}, error: null, stream: { kind: "connecting" } };
  #stream: { start(): void; close(): void } | undefined;
  #stopped = false;
  #visible = true;
  #pending = new Set<string>();
  #rereadAll = false;
  #rereadTimer: unknown;
  #metricsTimer: unknown;
  #metricsInFlight = false;
  #metricsMissed = false;

  constructor(deps: FeedDeps, onChange: (s: OverviewState) => void) {
    this.#deps = deps;
    this.#onChange = onChange;
  }

  get state(): OverviewState {
    return this.#state;
  }

  start(): void {
    // The stream first, live only: every service is re-read once it is live, so nothing
    // committed between the list and the stream is missed.
    const stream = this.#deps.openStream({
      url: "/api/v1/stream",
      token: this.#deps.token,
      onEvent: (e) => this.#onEvent(e),
      onStatus: (s) => {
        this.#set({ stream: s });
        if (s.kind === "live") {
          this.#rereadAll = true;
          this.#scheduleReread();
        }
        if (s.kind === "unauthorized") this.#deps.onUnauthorized(s.detail);
      },
    });
    this.#stream = stream;
    stream.start();
    void this.#readAll().then(() => this.#readMetrics());
  }

  stop(): void {
    this.#stopped = true;
    this.#stream?.close();
    this.#deps.timers.clearTimeout(this.#rereadTimer);
    this.#deps.timers.clearTimeout(this.#metricsTimer);
  }

  setVisible(visible: boolean): void {
    this.#visible = visible;
    if (visible && this.#metricsMissed) void this.#readMetrics();
  }

  #set(patch: Partial<OverviewState>): void {
    if (this.#stopped) return;
    this.#state = { ...this.#state, ...patch };
    this.#onChange(this.#state);
  }

  #onEvent(e: RolloutEvent): void {
    const views = this.#state.views;
    if (views === null) return;
    if (views.some((v) => v.name === e.service)) {
      this.#set({ views: applyEventToList(views, e) });
      this.#pending.add(e.service);
    } else this.#rereadAll = true;
    this.#deps.onLiveEvent?.(e);
    this.#scheduleReread();
  }

  #scheduleReread(): void {
    const t = this.#deps.timers;
    t.clearTimeout(this.#rereadTimer);
    this.#rereadTimer = t.setTimeout(() => void this.#reread(), REREAD_DEBOUNCE_MS);
  }

  async #reread(): Promise<void> {
    if (this.#rereadAll || this.#state.views === null) {
      this.#rereadAll = false;
      this.#pending.clear();
      await this.#readAll();
      return;
    }
    const names = [...this.#pending];
    this.#pending.clear();
    for (const name of names) {
      try {
        const read = await this.#deps.api.service(name);
        const views = this.#state.views ?? [];
        this.#set({
          views: views.map((v) => (v.name === name ? fresherView(v, read) : v)),
        });
      } catch (err) {
        if (this.#stopped) return;
        if (err instanceof ApiError && err.status === 401) {
          this.#deps.onUnauthorized(err.detail);
          return;
        }
        // Gone, or the server is away: read the whole list next time.
        this.#rereadAll = true;
      }
    }
  }

  async #readAll(): Promise<void> {
    try {
      const { services } = await this.#deps.api.services();
      const held = new Map((this.#state.views ?? []).map((v) => [v.name, v]));
      const views = services
        .map((read) => fresherView(held.get(read.name) ?? null, read))
        .sort((a, b) => a.name.localeCompare(b.name));
      this.#set({ views, error: null });
    } catch (err) {
      if (this.#stopped || isAbort(err)) return;
      if (err instanceof ApiError && err.status === 401) {
        this.#deps.onUnauthorized(err.detail);
        return;
      }
      this.#set({ error: messageOf(err) });
    }
  }

  async #readMetrics(): Promise<void> {
    if (this.#stopped) return;
    const t = this.#deps.timers;
    t.clearTimeout(this.#metricsTimer);
    this.#metricsTimer = t.setTimeout(() => void this.#readMetrics(), OVERVIEW_METRICS_MS);
    const views = this.#state.views;
    this.#metricsMissed = !this.#visible;
    if (!this.#visible || this.#metricsInFlight || views === null) return;
    this.#metricsInFlight = true;
    try {
      // Four at a time: a long list must not hold every connection the browser has.
      const queue = views.map((v) => v.name);
      const metrics: Record<string, ServiceMetrics> = { ...this.#state.metrics };
      const worker = async () => {
        for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
          try {
            metrics[name] = await this.#deps.api.metrics(
              name,
              HEALTH_WINDOW.window,
              HEALTH_WINDOW.step,
            );
          } catch {
            delete metrics[name];
          }
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      this.#set({ metrics });
    } finally {
      this.#metricsInFlight = false;
    }
  }
}
