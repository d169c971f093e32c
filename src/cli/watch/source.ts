/**
 * One read of everything the watch shows: the service view, the per-version metrics of the last
 * minute and the current rollout's analysis runs, fetched together. Every answer also feeds
 * the {@link ServerClock}. Only the service view is required; metrics and analysis that cannot
 * be read are shown as such.
 *
 * @module
 */

import type { ServerClock } from "../../util/server-clock.js";
import { type Answer, type ApiClient, ApiError } from "../client.js";
import type { ServiceView } from "../format.js";
import type { MetricsRead, MetricsState } from "./render.js";
import type { AnalysisRun } from "./status.js";

export const METRICS_WINDOW = "1m";

export interface Snapshot {
  view: ServiceView;
  metrics: MetricsState;
  runs: AnalysisRun[] | null;
}

export class WatchSource {
  readonly #client: ApiClient;
  readonly #base: string;
  readonly #clock: ServerClock;
  readonly #timeoutMs: number;

  constructor(client: ApiClient, service: string, clock: ServerClock, timeoutMs = 5_000) {
    this.#client = client;
    this.#base = `/api/v1/services/${encodeURIComponent(service)}`;
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
  }

  /** Reads everything once; throws when the service view itself cannot be read. */
  async read(): Promise<Snapshot> {
    const [view, metrics, runs] = await Promise.allSettled([
      this.#get<ServiceView>(""),
      this.#get<MetricsRead>(`/metrics?window=${METRICS_WINDOW}&step=10s`),
      this.#get<{ runs: AnalysisRun[] }>("/analysis"),
    ]);
    if (view.status === "rejected") throw view.reason;
    const r = view.value.body.rollout;
    this.#clock.observe({
      ...sample(view.value),
      before: r ? [r.updatedAt, r.stepStartedAt] : [view.value.body.updatedAt],
    });
    let metricsState: MetricsState;
    if (metrics.status === "fulfilled") {
      this.#clock.observe(sample(metrics.value));
      metricsState = { kind: "ok", read: metrics.value.body, window: METRICS_WINDOW };
    } else if (metrics.reason instanceof ApiError && metrics.reason.status === 404) {
      // A server without the per-version metrics read (or the service just went away).
      metricsState = { kind: "unavailable" };
    } else metricsState = { kind: "error", message: (metrics.reason as Error).message };
    const currentRuns =
      runs.status === "fulfilled"
        ? runs.value.body.runs.filter((run) => r !== null && run.rolloutId === r.id)
        : null;
    return { view: view.value.body, metrics: metricsState, runs: currentRuns };
  }

  #get<T>(path: string): Promise<Answer<T>> {
    return this.#client.answer<T>("GET", `${this.#base}${path}`, undefined, {
      timeoutMs: this.#timeoutMs,
    });
  }
}

function sample(a: Answer<unknown>) {
  return { sentAt: a.sentAt, receivedAt: a.receivedAt, date: a.date };
}
