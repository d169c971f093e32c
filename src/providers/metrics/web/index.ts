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
  type MeasureContext,
  type MetricProvider,
  type Observation,
  ProviderError,
} from "../../../analysis/types.js";
import { parseDuration } from "../../../util/duration.js";
import { type CountsArm, countsArm } from "../counts.js";
import { canaryAndStable, get, parseJson, redactUrl, snippet } from "../http.js";
import { substitute, templateVariables } from "../template.js";
import { checkAborted, checkWindow } from "../window.js";
import { evaluateJsonPath, type JsonPath, parseJsonPath } from "./json-path.js";

/** The provider's settings as the spec gives them (durations as text). */
export interface WebConfig {
  url: string;
  jsonPath?: string | undefined;
  /** Counts mode: JSON paths of the events and requests in each version's document. */
  counts?: { events: string; requests: string } | undefined;
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
  /** The value's path; in counts mode the events' path. */
  readonly #path: JsonPath;
  /** Counts mode: the requests' path. */
  readonly #requestsPath: JsonPath | undefined;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #timeoutMs: number;

  constructor(config: WebConfig) {
    this.#url = config.url;
    this.#stableUrl = config.stableUrl;
    if ((config.jsonPath === undefined) === (config.counts === undefined))
      throw new ProviderError("config", "web: give exactly one of jsonPath and counts");
    if (config.counts !== undefined && config.stableUrl === undefined)
      throw new ProviderError(
        "config",
        "web: counts mode needs stableUrl, the stable version's document",
      );
    try {
      this.#path = parseJsonPath(config.counts?.events ?? (config.jsonPath as string));
      this.#requestsPath =
        config.counts === undefined ? undefined : parseJsonPath(config.counts.requests);
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
      (signal) => this.#fetch(url, "canary", signal),
      stableUrl === undefined ? undefined : (signal) => this.#fetch(stableUrl, "stable", signal),
    );
    const paths =
      this.#requestsPath === undefined
        ? this.#path.text
        : `events ${this.#path.text} of requests ${this.#requestsPath.text}`;
    const adjusted = [canary.adjusted, stable?.adjusted]
      .filter((a) => a !== undefined)
      .map((a) => `\nadjusted: ${a}`)
      .join("");
    const query =
      (stableUrl === undefined
        ? `${redactUrl(url)} ${paths}`
        : `${redactUrl(url)} ${paths}\nstable: ${redactUrl(stableUrl)} ${paths}`) + adjusted;
    const obs: Observation = { canary: canary.arm, from, to, query };
    if (stable !== undefined) obs.stable = stable.arm;
    return obs;
  }

  async #fetch(url: URL, arm: "canary" | "stable", signal: AbortSignal): Promise<CountsArm> {
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
    if (this.#requestsPath === undefined)
      return { arm: { value: this.#pick(this.#path, doc, where) } };
    return countsArm(
      "web",
      arm,
      this.#pick(this.#path, doc, where),
      this.#pick(this.#requestsPath, doc, where),
      { events: `${where} ${this.#path.text}`, requests: `${where} ${this.#requestsPath.text}` },
    );
  }

  #pick(jsonPath: JsonPath, doc: unknown, where: string): number | null {
    const path = jsonPath.text;
    const r = evaluateJsonPath(jsonPath, doc);
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
