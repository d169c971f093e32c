/**
 * The `prometheus` metric provider: PromQL over Prometheus's HTTP API. Without `step`, an
 * instant query at the window's end (`/api/v1/query?time=`); with `step`, a range query over
 * the window (`/api/v1/query_range`) whose single series becomes the arm's `series` and its last
 * point the `value`. `query` measures the canary, `stableQuery` (optional) the baseline; both
 * run at once. Template variables (`{{args.NAME}}`, `{{service}}`, `{{canaryVersion}}`,
 * `{{stableVersion}}`, `{{window}}`) are resolved before sending. `headers` (auth) go with every
 * request and nowhere else: not in messages, not in the observation.
 *
 * @module
 */

import {
  type ArmObservation,
  type MeasureContext,
  type MetricProvider,
  type Observation,
  ProviderError,
} from "../../../analysis/types.js";
import { parseDuration } from "../../../util/duration.js";
import { countsArm } from "../counts.js";
import { canaryAndStable, get, redactUrl } from "../http.js";
import { substitute, templateVariables } from "../template.js";
import { checkAborted, checkWindow } from "../window.js";
import { type QueryResult, readAnswer } from "./response.js";

/** The provider's settings as the spec gives them (durations as text). */
export interface PrometheusConfig {
  address: string;
  query?: string | undefined;
  /** Counts mode: events and requests per version (`{{version}}`); instead of `query`. */
  counts?: { events: string; requests: string } | undefined;
  stableQuery?: string | undefined;
  step?: string | undefined;
  headers?: Readonly<Record<string, string>>;
  timeout?: string;
}

const DEFAULT_TIMEOUT = "10s";

export class PrometheusProvider implements MetricProvider {
  readonly type = "prometheus";
  readonly #base: URL;
  readonly #query: string | undefined;
  readonly #counts: { events: string; requests: string } | undefined;
  readonly #stableQuery: string | undefined;
  readonly #stepMs: number | undefined;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #timeoutMs: number;

  constructor(config: PrometheusConfig) {
    this.#base = baseUrl(config.address);
    if ((config.query === undefined) === (config.counts === undefined)) {
      throw new ProviderError("config", "prometheus: give exactly one of query and counts");
    }
    this.#query = config.query;
    this.#counts = config.counts;
    this.#stableQuery = config.stableQuery;
    this.#headers = { ...(config.headers ?? {}) };
    this.#timeoutMs = durationMs(config.timeout ?? DEFAULT_TIMEOUT, "timeout");
    this.#stepMs = config.step === undefined ? undefined : durationMs(config.step, "step");
  }

  async measure(from: number, to: number, ctx: MeasureContext): Promise<Observation> {
    checkWindow("prometheus", from, to);
    checkAborted("prometheus", ctx.signal);
    const vars = templateVariables(from, to, ctx);
    if (this.#counts !== undefined) return this.#measureCounts(this.#counts, vars, from, to, ctx);
    const query = substitute(this.#query as string, vars, "prometheus query");
    const stableQuery =
      this.#stableQuery === undefined
        ? undefined
        : substitute(this.#stableQuery, vars, "prometheus stableQuery");
    const [canary, stable] = await canaryAndStable(
      ctx.signal,
      (signal) => this.#run(query, from, to, signal),
      stableQuery === undefined ? undefined : (signal) => this.#run(stableQuery, from, to, signal),
    );
    const obs: Observation = {
      canary,
      from,
      to,
      query: stableQuery === undefined ? query : `${query}\nstable: ${stableQuery}`,
    };
    if (stable !== undefined) obs.stable = stable;
    return obs;
  }

  /**
   * Counts mode: events and requests for each version, four instant queries at once. A query
   * without a series counts 0 (a counter with no 5xx series yet has had no 5xx), but NaN or
   * ±Inf is an error (see countsArm); increase() extrapolates, so events may exceed requests
   * by a little, which is clamped and said in the evidence.
   */
  async #measureCounts(
    counts: { events: string; requests: string },
    vars: ReadonlyMap<string, string>,
    from: number,
    to: number,
    ctx: MeasureContext,
  ): Promise<Observation> {
    const forVersion = (version: string, which: "events" | "requests") =>
      substitute(
        counts[which],
        new Map([...vars, ["version", version]]),
        `prometheus counts.${which}`,
      );
    const queries = {
      canaryEvents: forVersion(ctx.canaryVersion, "events"),
      canaryRequests: forVersion(ctx.canaryVersion, "requests"),
      stableEvents: forVersion(ctx.stableVersion, "events"),
      stableRequests: forVersion(ctx.stableVersion, "requests"),
    };
    const [canaryEvents, canaryRequests, stableEvents, stableRequests] = await Promise.all(
      Object.values(queries).map(async (q) => {
        const r = await this.#ask(q, from, to, ctx.signal);
        return r.nonFinite ?? r.value;
      }),
    );
    const canary = countsArm("prometheus", "canary", canaryEvents ?? null, canaryRequests ?? null, {
      events: queries.canaryEvents,
      requests: queries.canaryRequests,
    });
    const stable = countsArm("prometheus", "stable", stableEvents ?? null, stableRequests ?? null, {
      events: queries.stableEvents,
      requests: queries.stableRequests,
    });
    const adjusted = [canary.adjusted, stable.adjusted].filter((a) => a !== undefined);
    return {
      canary: canary.arm,
      stable: stable.arm,
      from,
      to,
      query: [
        `events: ${queries.canaryEvents}`,
        `requests: ${queries.canaryRequests}`,
        `stable events: ${queries.stableEvents}`,
        `stable requests: ${queries.stableRequests}`,
        ...adjusted.map((a) => `adjusted: ${a}`),
      ].join("\n"),
    };
  }

  async #run(
    query: string,
    from: number,
    to: number,
    signal: AbortSignal,
  ): Promise<ArmObservation> {
    const result = await this.#ask(query, from, to, signal);
    const arm: ArmObservation = { value: result.value };
    if (result.series !== undefined) arm.series = result.series;
    return arm;
  }

  async #ask(query: string, from: number, to: number, signal: AbortSignal): Promise<QueryResult> {
    const range = this.#stepMs !== undefined;
    const url = new URL(range ? "api/v1/query_range" : "api/v1/query", this.#base);
    url.searchParams.set("query", query);
    if (range) {
      url.searchParams.set("start", seconds(from));
      url.searchParams.set("end", seconds(to));
      url.searchParams.set("step", seconds(this.#stepMs as number));
    } else {
      url.searchParams.set("time", seconds(to));
    }
    // Prometheus stops evaluating when we stop waiting.
    url.searchParams.set("timeout", seconds(this.#timeoutMs));
    const where = redactUrl(new URL(url.pathname, url.origin));
    const answer = await get({
      what: "prometheus",
      url,
      headers: this.#headers,
      timeoutMs: this.#timeoutMs,
      signal,
    });
    return readAnswer(answer.status, answer.text, range ? "range" : "instant", where);
  }
}

function baseUrl(address: string): URL {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new ProviderError(
      "config",
      `prometheus: address ${JSON.stringify(address)} is not a URL`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ProviderError("config", `prometheus: address must be http(s), got ${url.protocol}`);
  }
  // A path prefix (Prometheus behind /prometheus/) is kept: API paths resolve below it.
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  url.search = "";
  url.hash = "";
  return url;
}

function durationMs(text: string, field: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || !(ms > 0)) {
    throw new ProviderError(
      "config",
      `prometheus: ${field} must be a positive duration such as 10s, got ${JSON.stringify(text)}`,
    );
  }
  return ms;
}

/** Epoch ms (or a length in ms) as Prometheus's seconds with millisecond precision. */
function seconds(ms: number): string {
  return (ms / 1000).toFixed(3).replace(/\.?0+$/, "");
}
