/**
 * Reading a Prometheus HTTP API answer (`/api/v1/query`, `/api/v1/query_range`) into one value
 * or one series. One series is the contract: more is an error (aggregate in the query, as
 * Flagger's ErrMultipleValuesReturned says), none is no data (null), and NaN or ±Inf — what
 * `0/0` gives when there was no traffic — is no data too for a value, but is kept apart
 * (`nonFinite`) so that counts mode, where it cannot be a count, can refuse it.
 *
 * @module
 */

import { z } from "zod";
import { ProviderError } from "../../../analysis/types.js";
import { snippet } from "../http.js";

const Sample = z.tuple([z.number(), z.string()]);
const Labels = z.record(z.string(), z.string());

const Data = z.discriminatedUnion("resultType", [
  z.object({
    resultType: z.literal("vector"),
    result: z.array(z.object({ metric: Labels, value: Sample })),
  }),
  z.object({
    resultType: z.literal("matrix"),
    result: z.array(z.object({ metric: Labels, values: z.array(Sample) })),
  }),
  z.object({ resultType: z.literal("scalar"), result: Sample }),
  z.object({ resultType: z.literal("string"), result: Sample }),
]);

const Envelope = z.union([
  z.object({ status: z.literal("success"), data: Data }),
  z.object({
    status: z.literal("error"),
    errorType: z.string().optional(),
    error: z.string().optional(),
  }),
]);

/** What one query gave. */
export interface QueryResult {
  value: number | null;
  /**
   * The NaN or ±Inf the answer gave where `value` is null; absent when there was no series.
   * A value query reads both as no data, but a count cannot be NaN, while no series is a count
   * of nothing: the caller that knows which it is asking for decides.
   */
  nonFinite?: number;
  /** Range queries only: the values of the single series, NaN and ±Inf left out. */
  series?: number[];
}

/**
 * Interprets an answer. `status` is the HTTP status: Prometheus answers 400/422/503 with an
 * error envelope, whose errorType and error are reported; any other non-2xx is reported as is.
 */
export function readAnswer(
  status: number,
  text: string,
  kind: "instant" | "range",
  where: string,
): QueryResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = Envelope.safeParse(json);
  if (parsed.success && parsed.data.status === "error") {
    const { errorType, error } = parsed.data;
    throw new ProviderError(
      "query-error",
      `prometheus: ${where} rejected the query (HTTP ${status}): ${errorType ?? "error"}: ${error ?? "(no message)"}`,
    );
  }
  if (status < 200 || status > 299) {
    throw new ProviderError(
      "http-status",
      `prometheus: ${where} answered HTTP ${status}: ${snippet(text)}`,
    );
  }
  if (json === undefined) {
    throw new ProviderError(
      "malformed",
      `prometheus: ${where} answered with something that is not JSON: ${snippet(text)}`,
    );
  }
  if (!parsed.success || parsed.data.status !== "success") {
    throw new ProviderError(
      "malformed",
      `prometheus: ${where} answered JSON that is not a Prometheus query result: ${snippet(text)}`,
    );
  }
  const data = parsed.data.data;
  switch (data.resultType) {
    case "scalar": {
      const one = point(sample(data.result[1], where));
      return kind === "range" ? { ...one, series: [] } : one;
    }
    case "string":
      throw new ProviderError(
        "unsupported-result",
        `prometheus: the query gives a string, not a number`,
      );
    case "vector": {
      if (kind === "range")
        throw new ProviderError(
          "malformed",
          `prometheus: ${where} answered a range query with an instant vector`,
        );
      const one = single(data.result, where);
      return one === undefined ? { value: null } : point(sample(one.value[1], where));
    }
    case "matrix": {
      if (kind === "instant") {
        throw new ProviderError(
          "unsupported-result",
          "prometheus: the query gives a range vector (a selector with [duration]); wrap it in a function such as rate() or avg_over_time() so it gives one number",
        );
      }
      const one = single(data.result, where);
      if (one === undefined) return { value: null, series: [] };
      const values = one.values.map(([, v]) => sample(v, where));
      const series = values.filter(Number.isFinite);
      const last = values.at(-1);
      return last === undefined ? { value: null, series } : { ...point(last), series };
    }
  }
}

function single<T extends { metric: Record<string, string> }>(
  result: T[],
  where: string,
): T | undefined {
  if (result.length <= 1) return result[0];
  const shown = result
    .slice(0, 3)
    .map((r) => labelSet(r.metric))
    .join(", ");
  throw new ProviderError(
    "multiple-series",
    `prometheus: multiple series; aggregate in the query (e.g. sum(...)) so it gives one: ${where} returned ${result.length} (${shown}${result.length > 3 ? ", …" : ""})`,
  );
}

function labelSet(metric: Record<string, string>): string {
  const parts = Object.entries(metric).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `{${parts.join(",")}}`;
}

/** A sample value: Prometheus writes floats as strings, NaN and ±Inf included. */
function sample(text: string, where: string): number {
  // Number() knows "Infinity" but not Prometheus's "+Inf", which would come out as NaN.
  const inf = /^([+-]?)Inf$/i.exec(text);
  if (inf !== null) return inf[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  const v = Number(text);
  if (text.trim() === "" || (Number.isNaN(v) && !/^[+-]?NaN$/i.test(text))) {
    throw new ProviderError(
      "malformed",
      `prometheus: ${where} answered a sample value that is not a number: ${snippet(text)}`,
    );
  }
  return v;
}

function point(v: number): QueryResult {
  return Number.isFinite(v) ? { value: v } : { value: null, nonFinite: v };
}
