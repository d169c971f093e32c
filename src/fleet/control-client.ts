/**
 * How a router talks to the control plane: any of its instances, over the admin API, with
 * the router's token. One address is used until it fails; then the next one in the list is
 * tried (and so on round the list), so a router follows whichever instances are up.
 *
 * @module
 */

import { Agent, request } from "undici";
import type { RouterReport } from "../store/store.js";

export class ControlError extends Error {
  constructor(
    readonly url: string,
    message: string,
    readonly status?: number,
  ) {
    super(`${url}: ${message}`);
    this.name = "ControlError";
  }
}

export type StateAnswer =
  | { changed: true; body: unknown; etag: string | undefined; url: string }
  | { changed: false; url: string };

export interface ControlClientOptions {
  /** Control-plane base URLs (`http://host:9900`), tried in turn. */
  urls: readonly string[];
  token: string;
  /** How long a plain call may take (default 5 s); a long poll gets its wait on top. */
  timeoutMs?: number;
}

export class ControlClient {
  readonly #urls: readonly string[];
  readonly #token: string;
  readonly #timeoutMs: number;
  #at = 0;
  /** Its own connections, closed with the router (the global pool would outlive it). */
  readonly #agent = new Agent({ keepAliveTimeout: 4_000 });

  constructor(opts: ControlClientOptions) {
    if (opts.urls.length === 0) throw new Error("--control: at least one control-plane URL");
    this.#urls = opts.urls.map((u) => u.replace(/\/+$/, ""));
    this.#token = opts.token;
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
  }

  /** The address in use now. */
  get current(): string {
    return this.#urls[this.#at] as string;
  }

  /**
   * The fleet state, or `changed: false` when it is still `etag` after waiting up to `waitMs`
   * for a change. A failure moves on to the next address and throws.
   */
  async state(
    etag: string | undefined,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<StateAnswer> {
    const url = this.current;
    const wait = Math.max(0, Math.round(waitMs / 1000));
    const res = await this.#call(url, "GET", `/api/v1/fleet/state?wait=${wait}s`, {
      headers: etag === undefined ? {} : { "if-none-match": etag },
      timeoutMs: this.#timeoutMs + waitMs,
      ...(signal ? { signal } : {}),
    });
    if (res.status === 304) return { changed: false, url };
    return { changed: true, body: res.body, etag: res.etag, url };
  }

  /** Posts a report; a failure moves on to the next address and throws. */
  async report(report: Omit<RouterReport, "at"> & { intervalMs: number }): Promise<void> {
    await this.#call(this.current, "POST", "/api/v1/fleet/report", {
      body: JSON.stringify(report),
      timeoutMs: this.#timeoutMs,
    });
  }

  /** Closes its connections. */
  async close(): Promise<void> {
    await this.#agent.destroy();
  }

  async #call(
    base: string,
    method: "GET" | "POST",
    path: string,
    opts: {
      headers?: Record<string, string>;
      body?: string;
      timeoutMs: number;
      signal?: AbortSignal;
    },
  ): Promise<{ status: number; body: unknown; etag: string | undefined }> {
    try {
      const res = await request(`${base}${path}`, {
        method,
        dispatcher: this.#agent,
        headers: {
          authorization: `Bearer ${this.#token}`,
          ...(opts.body === undefined ? {} : { "content-type": "application/json" }),
          ...opts.headers,
        },
        ...(opts.body === undefined ? {} : { body: opts.body }),
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      const text = await res.body.text();
      if (res.statusCode === 304) return { status: 304, body: undefined, etag: undefined };
      if (res.statusCode !== 200)
        throw new ControlError(
          base,
          `${method} ${path} answered ${res.statusCode}: ${text.slice(0, 300)}`,
          res.statusCode,
        );
      const etag = res.headers.etag;
      return {
        status: 200,
        body: text === "" ? undefined : JSON.parse(text),
        etag: typeof etag === "string" ? etag : undefined,
      };
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      this.#at = (this.#at + 1) % this.#urls.length;
      if (err instanceof ControlError) throw err;
      throw new ControlError(base, (err as Error).message);
    }
  }
}
