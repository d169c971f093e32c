/**
 * Prometheus exposition of the recorders' lifetime totals. The metrics are filled at scrape time
 * from counters the recorders already keep, so the proxy never pays for prom-client's label
 * hashing per request.
 *
 * @module
 */

import type { Metric, Registry } from "prom-client";
import { DURATION_BOUNDS_SECONDS } from "./duration-buckets.js";
import { SLOT_CODES, SLOTS } from "./outcome.js";
import type { SeriesRecorder } from "./series.js";

type Labels = Record<string, string | number>;
interface Sample {
  value: number;
  labels: Labels;
  metricName?: string;
}

// What prom-client's Registry calls on a metric (get, reset, name, type). Its typings only admit
// its own classes, and neither can be given totals counted elsewhere: a Histogram only observes.
class ScrapedMetric {
  readonly aggregator = "sum";

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "histogram",
    readonly samples: () => Sample[],
  ) {}

  async get() {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.samples(),
    };
  }

  // The totals live in the recorders and only grow; a registry-wide reset must not fake a restart.
  reset(): void {}
}

/**
 * Registers `aviary_requests_total{service,version,role,code}` and
 * `aviary_request_duration_seconds{service,version,role}` in `registry`, read from `source` at
 * every scrape. Every code is exposed from the start, zero included, so a first error shows as
 * an increase rather than as a series appearing.
 */
export function registerRequestMetrics(
  registry: Registry,
  source: () => Iterable<SeriesRecorder>,
): void {
  const requests = new ScrapedMetric(
    "aviary_requests_total",
    "Requests proxied to a version, by status class or failure kind.",
    "counter",
    () => requestSamples(source()),
  );
  const duration = new ScrapedMetric(
    "aviary_request_duration_seconds",
    "Time from request start to response end (or to failure), per version.",
    "histogram",
    () => durationSamples(source()),
  );
  for (const m of [requests, duration]) registry.registerMetric(m as unknown as Metric<string>);
}

function requestSamples(series: Iterable<SeriesRecorder>): Sample[] {
  const out: Sample[] = [];
  for (const s of series) {
    for (let slot = 0; slot < SLOTS; slot++) {
      out.push({
        labels: { service: s.service, version: s.version, role: s.role, code: SLOT_CODES[slot]! },
        value: s.totals[slot]!,
      });
    }
  }
  return out;
}

function durationSamples(series: Iterable<SeriesRecorder>): Sample[] {
  const bucket = "aviary_request_duration_seconds_bucket";
  const out: Sample[] = [];
  for (const s of series) {
    const base = { service: s.service, version: s.version, role: s.role };
    let cumulative = 0;
    DURATION_BOUNDS_SECONDS.forEach((le, i) => {
      cumulative += s.durationCounts[i]!;
      out.push({ metricName: bucket, labels: { ...base, le }, value: cumulative });
    });
    const count = cumulative + s.durationCounts[DURATION_BOUNDS_SECONDS.length]!;
    out.push({ metricName: bucket, labels: { ...base, le: "+Inf" }, value: count });
    out.push({
      metricName: "aviary_request_duration_seconds_sum",
      labels: base,
      value: s.durationSumMs / 1000,
    });
    out.push({ metricName: "aviary_request_duration_seconds_count", labels: base, value: count });
  }
  return out;
}
