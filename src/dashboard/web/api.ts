/**
 * The dashboard's side of the admin API: the shapes it reads, and one client that sends the
 * bearer token, turns `application/problem+json` answers into an {@link ApiError} carrying the
 * problem's `detail` (what the user is shown), and reports each answer's timing and `Date`
 * header so countdowns can run on the server's clock.
 *
 * The token is handed in by a function and goes into the Authorization header only: never
 * into a URL, an error message or a log.
 *
 * @module
 */

import type {
  MetricsPoint,
  MetricsSummary,
  ServiceMetrics,
  VersionMetrics,
} from "../../api/metrics-routes.js";
import type { Rollout, RolloutEvent, ServiceState } from "../../rollout/types.js";
import type { AnalysisRunRecord, MeasurementRecord } from "../../store/store.js";
import type { ClockSample } from "../../util/server-clock.js";

export type {
  MeasurementRecord,
  MetricsPoint,
  MetricsSummary,
  Rollout,
  RolloutEvent,
  ServiceMetrics,
  VersionMetrics,
};

/** `GET /api/v1/services/:name`: the service's state with its current (or last) rollout. */
export type ServiceView = ServiceState & { rollout: Rollout | null };
export type AnalysisRun = AnalysisRunRecord & { measurements: MeasurementRecord[] };

export type Role = "operator" | "read-only" | "anonymous";
export interface WhoAmI {
  name: string;
  role: Role;
}

/** The `measurement` event of the stream. */
export interface MeasurementMessage {
  service: string;
  rolloutId: string;
  runId: string;
  measurement: MeasurementRecord;
}

/** The commands a dashboard can send; each is a POST to `/api/v1/services/:name/<verb>`. */
export type CommandVerb = "promote" | "pause" | "resume" | "abort" | "retry" | "undo";

/** A refused or failed call: `detail` is the sentence to show. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;

  constructor(status: number, code: string, detail: string) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export interface ApiClientOptions {
  /** The bearer token in force, or null to call without one (anonymous reads). */
  token(): string | null;
  /** Called with every answer's timing, for the server clock. */
  onAnswer?(sample: ClockSample): void;
  fetch?: typeof fetch;
  /** Epoch ms now; injectable for tests. */
  now?(): number;
}

export class ApiClient {
  readonly #opts: ApiClientOptions;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;

  constructor(opts: ApiClientOptions) {
    this.#opts = opts;
    this.#fetch = opts.fetch ?? ((input, init) => fetch(input, init));
    this.#now = opts.now ?? Date.now;
  }

  /** Who the token in force (or no token) is; a 401 means the token is not known. */
  whoami(token?: string | null, signal?: AbortSignal): Promise<WhoAmI> {
    return this.#call("GET", "/api/v1/whoami", {
      ...(token !== undefined ? { token } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  services(signal?: AbortSignal): Promise<{ services: ServiceView[] }> {
    return this.#call("GET", "/api/v1/services", signal ? { signal } : {});
  }

  service(name: string, signal?: AbortSignal): Promise<ServiceView> {
    return this.#call("GET", servicePath(name), signal ? { signal } : {});
  }

  /** One page of the service's history, oldest first, after `after`. */
  history(
    name: string,
    after: number,
    limit: number,
    signal?: AbortSignal,
  ): Promise<{ events: RolloutEvent[] }> {
    const q = `?after=${after}&limit=${limit}`;
    return this.#call("GET", `${servicePath(name)}/history${q}`, signal ? { signal } : {});
  }

  analysis(name: string, signal?: AbortSignal): Promise<{ runs: AnalysisRun[] }> {
    return this.#call("GET", `${servicePath(name)}/analysis`, signal ? { signal } : {});
  }

  metrics(
    name: string,
    window: string,
    step: string,
    signal?: AbortSignal,
  ): Promise<ServiceMetrics> {
    const q = `?window=${encodeURIComponent(window)}&step=${encodeURIComponent(step)}`;
    return this.#call("GET", `${servicePath(name)}/metrics${q}`, signal ? { signal } : {});
  }

  command(name: string, verb: CommandVerb, body: Record<string, unknown> = {}): Promise<unknown> {
    return this.#call("POST", `${servicePath(name)}/${verb}`, { body });
  }

  openGate(name: string, gate: string): Promise<unknown> {
    return this.#call("POST", `${servicePath(name)}/gates/${encodeURIComponent(gate)}/open`, {
      body: {},
    });
  }

  async #call<T>(
    method: "GET" | "POST",
    path: string,
    opts: { body?: unknown; token?: string | null; signal?: AbortSignal },
  ): Promise<T> {
    const token = opts.token !== undefined ? opts.token : this.#opts.token();
    const headers: Record<string, string> = { accept: "application/json" };
    if (token !== null && token !== "") headers.authorization = `Bearer ${token}`;
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    const sentAt = this.#now();
    let res: Response;
    try {
      res = await this.#fetch(path, {
        method,
        headers,
        cache: "no-store",
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      if (isAbort(err)) throw err;
      throw new ApiError(
        0,
        "AVIARY_UNREACHABLE",
        `cannot reach the Aviary admin server (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    this.#opts.onAnswer?.({
      sentAt,
      receivedAt: this.#now(),
      date: res.headers.get("date") ?? undefined,
    });
    const text = await res.text();
    if (!res.ok) throw problemError(res, text);
    if (text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(
        res.status,
        "AVIARY_BAD_ANSWER",
        `${method} ${path} answered ${res.status} with a body that is not JSON`,
      );
    }
  }
}

function servicePath(name: string): string {
  return `/api/v1/services/${encodeURIComponent(name)}`;
}

/** The problem's own words when the server sent one; the status otherwise. */
export function problemError(res: Response, text: string): ApiError {
  const type = res.headers.get("content-type") ?? "";
  if (type.includes("json")) {
    try {
      const p = JSON.parse(text) as { detail?: unknown; title?: unknown; code?: unknown };
      const detail =
        typeof p.detail === "string" && p.detail !== ""
          ? p.detail
          : typeof p.title === "string"
            ? p.title
            : undefined;
      if (detail !== undefined)
        return new ApiError(
          res.status,
          typeof p.code === "string" ? p.code : `HTTP_${res.status}`,
          detail,
        );
    } catch {
      // Not JSON after all: fall through to the status line.
    }
  }
  const status = `${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
  return new ApiError(res.status, `HTTP_${res.status}`, `the server answered ${status}`);
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}
