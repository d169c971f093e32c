/**
 * The `web` metric provider: GET a JSON document and pick one number out of it by a JSON path
 * (`$.data.value`, `$.series[0].points[-1][1]`; see `json-path.ts` for the subset). `url`
 * measures the canary, `stableUrl` (optional) the baseline. Template variables are resolved in
 * the URLs, each value URL-encoded.
 *
 * What the path finds decides the answer: a number (or a string holding a plain decimal number)
 * is the value; `null`, or an array index past the end (an empty list of points), is no data
 * (value null); a missing key, or anything else found — an object, a word, a boolean — is a
 * ProviderError naming the path and what was there, since a typo in the path must not pass for
 * a quiet metric.
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
import { canaryAndStable, get, parseJson, redactUrl, snippet } from "../http.js";
import { substitute, templateVariables } from "../template.js";
import { checkAborted, checkWindow } from "../window.js";
import { evaluateJsonPath, type JsonPath, parseJsonPath } from "./json-path.js";

/** The provider's settings as the spec gives them (durations as text). */
export interface WebConfig {
  url: string;
  jsonPath: string;
  stableUrl?: string | undefined;
  headers?: Readonly<Record<string, string>>;
  timeout?: string;
}

const DEFAULT_TIMEOUT = "10s";
const DECIMAL = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

export class WebProvider implements MetricProvider {
  readonly type = "web";
  readonly #url: string;
  readonly #stableUrl: string | undefined;
  readonly #path: JsonPath;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #timeoutMs: number;

  constructor(config: WebConfig) {
    this.#url = config.url;
    this.#stableUrl = config.stableUrl;
    try {
      this.#path = parseJsonPath(config.jsonPath);
    } catch (err) {
      throw new ProviderError("config", `web: ${(err as Error).message}`);
    }
    this.#headers = { ...(config.headers ?? {}) };
    const timeout = parseDuration(config.timeout ?? DEFAULT_TIMEOUT);
    if (timeout === undefined || !(timeout > 0)) {
      throw new ProviderError(
        "config",
        `web: timeout must be a positive duration such as 10s, got ${JSON.stringify(config.timeout)}`,
      );
    }
    this.#timeoutMs = timeout;
  }

  async measure(from: number, to: number, ctx: MeasureContext): Promise<Observation> {
    checkWindow("web", from, to);
    checkAborted("web", ctx.signal);
    const vars = templateVariables(from, to, ctx);
    const url = resolveUrl(this.#url, vars, "url");
    const stableUrl =
      this.#stableUrl === undefined ? undefined : resolveUrl(this.#stableUrl, vars, "stableUrl");
    const [canary, stable] = await canaryAndStable(
      ctx.signal,
      (signal) => this.#fetch(url, signal),
      stableUrl === undefined ? undefined : (signal) => this.#fetch(stableUrl, signal),
    );
    const query =
      stableUrl === undefined
        ? `${redactUrl(url)} ${this.#path.text}`
        : `${redactUrl(url)} ${this.#path.text}\nstable: ${redactUrl(stableUrl)} ${this.#path.text}`;
    const obs: Observation = { canary, from, to, query };
    if (stable !== undefined) obs.stable = stable;
    return obs;
  }

  async #fetch(url: URL, signal: AbortSignal): Promise<ArmObservation> {
    const where = redactUrl(url);
    const answer = await get({
      what: "web",
      url,
      headers: this.#headers,
      timeoutMs: this.#timeoutMs,
      signal,
    });
    if (answer.status < 200 || answer.status > 299) {
      throw new ProviderError(
        "http-status",
        `web: ${where} answered HTTP ${answer.status}: ${snippet(answer.text)}`,
      );
    }
    const doc = parseJson(answer.text, "web", where);
    return { value: this.#pick(doc, where) };
  }

  #pick(doc: unknown, where: string): number | null {
    const path = this.#path.text;
    const r = evaluateJsonPath(this.#path, doc);
    if (!r.found) {
      if (r.reason === "index-out-of-range") return null;
      const got = describe(r.got);
      const why =
        r.reason === "missing-key"
          ? `${r.at} has no such key (it is ${got})`
          : `${r.at} is ${got}, which the path cannot go into`;
      throw new ProviderError(
        "no-value",
        `web: jsonPath ${path} found nothing in the answer of ${where}: ${why}`,
      );
    }
    const v = r.value;
    if (v === null) return null;
    if (typeof v === "number" && Number.isFinite(v)) return v;
    if (typeof v === "string" && DECIMAL.test(v)) return Number(v);
    throw new ProviderError(
      "not-numeric",
      `web: jsonPath ${path} found ${describe(v)} in the answer of ${where}, not a number`,
    );
  }
}

function resolveUrl(template: string, vars: ReadonlyMap<string, string>, field: string): URL {
  const text = substitute(template, vars, `web ${field}`, encodeURIComponent);
  try {
    return new URL(text);
  } catch {
    throw new ProviderError(
      "config",
      `web: ${field} is not a URL once its variables are filled in`,
    );
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of ${v.length} (${snippet(JSON.stringify(v), 80)})`;
  if (typeof v === "object") {
    const keys = Object.keys(v as object);
    if (keys.length === 0) return "an empty object";
    return `an object with keys ${keys.slice(0, 10).join(", ")}${keys.length > 10 ? ", …" : ""}`;
  }
  if (typeof v === "string") return `the string ${snippet(v, 80)}`;
  return `${typeof v} ${String(v)}`;
}
