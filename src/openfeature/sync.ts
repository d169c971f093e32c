/**
 * Keeps a copy of Aviary's flag set (`GET /aviary/v1/flags`) for in-process evaluation: fetched
 * once at start, then again whenever the change stream says the flags changed (the stream the
 * answer names, `change-stream.ts`), or, without a stream, by polling with the ETag so an
 * unchanged set costs a 304. A stream that ends (its hourly ticket expired, the instance
 * restarted or vanished) is replaced after a fresh fetch, with back-off.
 *
 * @module
 */

import { type CompiledFlag, compileFlag } from "../flags/evaluate.js";
import { Flag } from "../flags/schema.js";
import { type ChangeStream, followChanges } from "./change-stream.js";

export interface SyncedSet {
  revision: number;
  flags: Map<string, CompiledFlag>;
  /** Each flag's definition as JSON, to tell which changed. */
  texts: Map<string, string>;
}

export interface SyncOptions {
  baseUrl: string;
  clientKey: string;
  changes: "sse" | "polling";
  pollIntervalMs: number;
  timeoutMs: number;
  /** Silence after which a change stream is replaced (Aviary's heartbeat is every 15 s). */
  streamIdleMs: number;
  onSet: (set: SyncedSet) => void;
  onError: (message: string) => void;
  /** A first fetch that failed has succeeded since: the set is in use and followed. */
  onReady: () => void;
}

export const FLAGS_PATH = "/aviary/v1/flags";

export class FlagSync {
  readonly #o: SyncOptions;
  #etag: string | undefined;
  #stream: ChangeStream | undefined;
  #streamUri: string | undefined;
  #poll: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #failures = 0;
  #closed = false;

  constructor(opts: SyncOptions) {
    this.#o = opts;
  }

  /**
   * The first fetch; rejects when Aviary cannot give the flags (the provider is then in error),
   * and keeps trying in the background with back-off (1 s doubling to 30 s), so an application
   * started while Aviary was away gets its flags once Aviary is back (`onReady`).
   */
  async start(): Promise<void> {
    try {
      await this.fetch();
    } catch (err) {
      this.#afterBackoff("fetching the flags", () => {
        this.#failures = 0;
        this.#follow();
        this.#o.onReady();
      });
      throw err;
    }
    this.#follow();
  }

  /**
   * After a back-off (1 s, doubling up to 30 s), fetches the set and goes on with `then`; a fetch
   * that fails is said and tried again after a longer wait.
   */
  #afterBackoff(what: string, then: () => void): void {
    if (this.#closed) return;
    this.#failures++;
    const wait = Math.min(30_000, 500 * 2 ** this.#failures);
    this.#retry = setTimeout(() => {
      this.fetch().then(
        () => {
          if (!this.#closed) then();
        },
        (err: unknown) => {
          this.#o.onError(`aviary: ${what} failed, trying again: ${(err as Error).message}`);
          this.#afterBackoff(what, then);
        },
      );
    }, wait);
    this.#retry.unref();
  }

  close(): void {
    this.#closed = true;
    this.#stream?.close();
    clearInterval(this.#poll);
    clearTimeout(this.#retry);
  }

  /** Fetches the set unless it is unchanged (304); throws on failure. */
  async fetch(): Promise<void> {
    const res = await fetch(new URL(FLAGS_PATH, this.#o.baseUrl), {
      headers: {
        authorization: `Bearer ${this.#o.clientKey}`,
        ...(this.#etag !== undefined ? { "if-none-match": this.#etag } : {}),
      },
      signal: AbortSignal.timeout(this.#o.timeoutMs),
    });
    if (res.status === 304) {
      await res.body?.cancel();
      return;
    }
    const text = await res.text();
    if (res.status !== 200)
      throw new Error(`GET ${FLAGS_PATH} answered ${res.status}: ${text.slice(0, 200)}`);
    const body = JSON.parse(text) as {
      revision?: unknown;
      flags?: unknown;
      eventStreams?: Array<{ endpoint?: { requestUri?: string } }>;
    };
    if (typeof body.revision !== "number" || !Array.isArray(body.flags))
      throw new Error(`GET ${FLAGS_PATH} gave no revision and flags`);
    const flags = new Map<string, CompiledFlag>();
    const texts = new Map<string, string>();
    for (const raw of body.flags) {
      const parsed = Flag.safeParse(raw);
      if (!parsed.success) {
        // A flag this version cannot read is left out (it answers FLAG_NOT_FOUND), not the set.
        this.#o.onError(
          `aviary: flag ${(raw as { key?: string }).key ?? "?"} could not be read: ${parsed.error.issues[0]?.message}`,
        );
        continue;
      }
      flags.set(parsed.data.key, compileFlag(parsed.data));
      texts.set(parsed.data.key, JSON.stringify(raw));
    }
    this.#etag = res.headers.get("etag") ?? undefined;
    this.#streamUri = body.eventStreams?.[0]?.endpoint?.requestUri;
    this.#o.onSet({ revision: body.revision, flags, texts });
  }

  #follow(): void {
    if (this.#closed) return;
    if (this.#o.changes === "sse" && this.#streamUri !== undefined) {
      this.#openStream(this.#streamUri);
      return;
    }
    this.#poll = setInterval(() => {
      this.fetch().catch((err: unknown) =>
        this.#o.onError(`aviary: polling the flags failed: ${(err as Error).message}`),
      );
    }, this.#o.pollIntervalMs);
    this.#poll.unref();
  }

  #openStream(uri: string): void {
    if (this.#closed) return;
    this.#stream = followChanges(new URL(uri, this.#o.baseUrl).toString(), {
      idleMs: this.#o.streamIdleMs,
      onOpen: () => {
        this.#failures = 0;
        // Changes made while no stream was open are caught by fetching once it is.
        void this.fetch().catch(() => {});
      },
      onChange: () => {
        this.fetch().catch((err: unknown) =>
          this.#o.onError(`aviary: refetching the flags failed: ${(err as Error).message}`),
        );
      },
      onEnd: (err) => {
        if (this.#closed) return;
        this.#o.onError(`aviary: ${err.message}; following the flags again`);
        // A fresh fetch gives a new ticket (the old one may have expired), then a new stream.
        this.#afterBackoff("reconnecting to the flags", () =>
          this.#openStream(this.#streamUri ?? uri),
        );
      },
    });
  }
}
