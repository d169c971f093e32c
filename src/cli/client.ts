/**
 * How the CLI reaches a running Aviary: the REST API at the server `config.ts` resolves, with
 * the bearer token it found. Errors come back as {@link ApiError}s that carry the HTTP status
 * and the problem's code; a server that cannot be reached is AVIARY_UNREACHABLE (exit 3).
 *
 * @module
 */

import { errors, request } from "undici";
import { AviaryError } from "../errors.js";
import type { Connection } from "./config.js";

/** An answer of the API with what the watch needs to estimate the server's clock. */
export interface Answer<T> {
  body: T;
  /** The HTTP Date header, if any (second resolution). */
  date: string | undefined;
  /** Local epoch ms just before the request was sent and just after the answer arrived. */
  sentAt: number;
  receivedAt: number;
}

export interface CallOptions {
  /** How long to wait for the answer's headers and body; default 30 s. */
  timeoutMs?: number;
}

/** The server could not be reached; `reason` says why in a few words (for a status line). */
export class UnreachableError extends AviaryError {
  readonly reason: string;
  constructor(server: string, reason: string) {
    super(
      "AVIARY_UNREACHABLE",
      `cannot reach Aviary at ${server}: ${reason} (is \`aviary serve\` running? set --server or AVIARY_SERVER)`,
    );
    this.reason = `cannot reach ${server}: ${reason}`;
  }
}

/** The server answered with an error status; `code` is the problem's `code` or `HTTP_<status>`. */
export class ApiError extends AviaryError {
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(code, message);
    this.status = status;
  }
}

export class ApiClient {
  readonly server: string;
  readonly #token: string | undefined;
  readonly #tokenSource: string;

  constructor(connection: Connection) {
    this.server = connection.server;
    this.#token = connection.token;
    this.#tokenSource = connection.tokenSource;
  }

  async call<T>(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    opts: CallOptions = {},
  ): Promise<T> {
    return (await this.answer<T>(method, path, body, opts)).body;
  }

  /** Like {@link call}, with the Date header and the local send and receive times. */
  async answer<T>(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    opts: CallOptions = {},
  ): Promise<Answer<T>> {
    const timeout = opts.timeoutMs ?? 30_000;
    const sentAt = Date.now();
    let res: Awaited<ReturnType<typeof request>>;
    let text: string;
    try {
      res = await request(`${this.server}${path}`, {
        method,
        headers: {
          accept: "application/json",
          ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      text = await res.body.text();
    } catch (err) {
      throw new UnreachableError(this.server, describeFailure(err));
    }
    const receivedAt = Date.now();
    let json: Record<string, unknown>;
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      throw new ApiError(
        res.statusCode,
        `HTTP_${res.statusCode}`,
        `${this.server}${path} answered HTTP ${res.statusCode} with a body that is not JSON (is --server the Aviary admin address?): ${text.slice(0, 200).replace(/[\x00-\x1f\x7f]+/g, " ")}`,
      );
    }
    if (res.statusCode >= 400) throw this.#problem(res.statusCode, json, text);
    const date = res.headers.date;
    return {
      body: json as T,
      date: typeof date === "string" ? date : undefined,
      sentAt,
      receivedAt,
    };
  }

  /**
   * Opens a Server-Sent Events stream; resolves with its body once the server accepted it
   * (an error status is thrown as an {@link ApiError}, like {@link call}). `idleMs`: the body
   * may be quiet this long (the server sends a comment every 15 s) before it counts as dead.
   */
  async stream(path: string, signal: AbortSignal, idleMs = 45_000): Promise<AsyncIterable<Buffer>> {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(`${this.server}${path}`, {
        method: "GET",
        headers: {
          accept: "text/event-stream",
          ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
        },
        signal,
        headersTimeout: 10_000,
        bodyTimeout: idleMs,
      });
    } catch (err) {
      throw new UnreachableError(this.server, describeFailure(err));
    }
    if (res.statusCode >= 400) {
      const text = await res.body.text();
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // not a problem document; the status says enough
      }
      throw this.#problem(res.statusCode, json, text);
    }
    return res.body;
  }

  #problem(status: number, json: Record<string, unknown>, text: string): ApiError {
    const code = typeof json.code === "string" ? json.code : `HTTP_${status}`;
    const detail = typeof json.detail === "string" ? json.detail : text;
    const hint =
      status === 401
        ? this.#token === undefined
          ? " (pass --token, set AVIARY_TOKEN, put a token in the config file, or point --data-dir at the server's data directory)"
          : ` (the token from ${this.#tokenSource} was refused)`
        : "";
    const problems = Array.isArray(json.problems)
      ? `\n${(json.problems as Array<{ file: string; line: number; column: number; path: string; message: string }>).map((p) => `${p.file}:${p.line}:${p.column}: ${p.path ? `${p.path}: ` : ""}${p.message}`).join("\n")}`
      : "";
    return new ApiError(status, code, `${detail}${hint}${problems}`);
  }
}

/** An undici failure in words: its message, plus its code when the message lacks it. */
function describeFailure(err: unknown): string {
  const reason =
    err instanceof errors.UndiciError || err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && !reason.includes(code) ? `${reason} (${code})` : reason;
}
