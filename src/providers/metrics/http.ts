/**
 * The one HTTP GET the remote providers (prometheus, web) make: undici, a deadline, the
 * measurement's abort signal, a cap on the answer's size, and every failure turned into a
 * {@link ProviderError} whose message says what went wrong and where — never the headers, which
 * may carry credentials.
 *
 * @module
 */

import { request } from "undici";
import { ProviderError } from "../../analysis/types.js";
import { formatDuration } from "../../util/duration.js";

/** Answers larger than this are refused: a metric is a number, not a dump. */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

export interface GetOptions {
  /** Who asks, for messages (`prometheus`, `web`). */
  what: string;
  url: URL;
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface Answer {
  status: number;
  text: string;
}

/** GETs `url` and reads the whole answer as text. Resolves for any status; throws ProviderError when there is no answer. */
export async function get(opts: GetOptions): Promise<Answer> {
  const where = redactUrl(opts.url);
  if (opts.signal.aborted) throw aborted(opts.what, where);
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, opts.timeoutMs);
  const onAbort = () => ac.abort();
  opts.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const res = await request(opts.url, {
      method: "GET",
      headers: Object.keys(opts.headers).some((h) => h.toLowerCase() === "accept")
        ? opts.headers
        : { accept: "application/json", ...opts.headers },
      signal: ac.signal,
    });
    const text = await readCapped(res.body, opts.what, where);
    return { status: res.statusCode, text };
  } catch (err) {
    if (err instanceof ProviderError) throw err;
    const code = (err as { code?: unknown }).code;
    if (timedOut || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
      throw new ProviderError(
        "timeout",
        `${opts.what}: no answer from ${where} within ${formatDuration(opts.timeoutMs)}`,
        { cause: err },
      );
    }
    if (opts.signal.aborted) throw aborted(opts.what, where);
    throw new ProviderError(
      "unreachable",
      `${opts.what}: cannot reach ${where}: ${describe(err)}`,
      {
        cause: err,
      },
    );
  } finally {
    clearTimeout(timer);
    opts.signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Runs the canary's and (if any) the stable's request together under one signal linked to
 * `signal`; when one fails, the other is aborted instead of being left to run out its timeout.
 */
export async function canaryAndStable<T>(
  signal: AbortSignal,
  canary: (signal: AbortSignal) => Promise<T>,
  stable: ((signal: AbortSignal) => Promise<T>) | undefined,
): Promise<[T, T | undefined]> {
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  if (signal.aborted) ac.abort();
  else signal.addEventListener("abort", onAbort, { once: true });
  const fail = (err: unknown): never => {
    ac.abort();
    throw err;
  };
  try {
    return await Promise.all([
      canary(ac.signal).catch(fail),
      stable === undefined ? undefined : stable(ac.signal).catch(fail),
    ]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** Parses an answer's text as JSON; ProviderError("malformed") with the start of the text if it is not. */
export function parseJson(text: string, what: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ProviderError(
      "malformed",
      `${what}: ${where} answered with something that is not JSON: ${snippet(text)}`,
    );
  }
}

/** A URL fit for messages and evidence: no user info, and values of secret-looking query parameters hidden. */
export function redactUrl(url: URL): string {
  const u = new URL(url.href);
  if (u.username !== "" || u.password !== "") {
    u.username = "";
    u.password = "";
  }
  for (const name of [...u.searchParams.keys()]) {
    if (SECRET_PARAM.test(name)) u.searchParams.set(name, "REDACTED");
  }
  return u.href;
}

const SECRET_PARAM = /key|token|secret|password|passwd|auth|signature|sig$|credential/i;

/** The first characters of a text, on one line, for error messages. */
export function snippet(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat.length === 0) return "(empty)";
  return flat.length > max ? `${JSON.stringify(flat.slice(0, max))}…` : JSON.stringify(flat);
}

function aborted(what: string, where: string): ProviderError {
  return new ProviderError("aborted", `${what}: measurement of ${where} aborted`);
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const inner = err.cause instanceof Error ? ` (${err.cause.message})` : "";
    return typeof code === "string" && !err.message.includes(code)
      ? `${code}: ${err.message}${inner}`
      : `${err.message}${inner}`;
  }
  return String(err);
}

async function readCapped(
  body: AsyncIterable<Buffer> & { destroy(): unknown },
  what: string,
  where: string,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) {
      body.destroy();
      throw new ProviderError(
        "malformed",
        `${what}: the answer of ${where} is larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB`,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
