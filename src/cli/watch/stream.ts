/**
 * Sooner, not instead: the server's event stream (`GET /api/v1/stream?service=NAME`, SSE)
 * wakes the watch as soon as a history event or a measurement of the service is committed, so
 * a step change shows at once rather than at the next poll. The watch keeps polling either way
 * (metrics change without events); a server without the stream, or a token that may not read
 * it, leaves polling alone. A dropped stream is opened again, backing off up to 30 s.
 *
 * @module
 */

import { type ApiClient, ApiError } from "../client.js";

export class ChangeStream {
  readonly #client: ApiClient;
  readonly #path: string;
  readonly #onChange: () => void;
  readonly #abort = new AbortController();
  #stopped = false;
  #wait: NodeJS.Timeout | undefined;

  constructor(client: ApiClient, service: string, onChange: () => void) {
    this.#client = client;
    this.#path = `/api/v1/stream?service=${encodeURIComponent(service)}`;
    this.#onChange = onChange;
  }

  start(): void {
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    this.#abort.abort();
    if (this.#wait !== undefined) clearTimeout(this.#wait);
  }

  async #run(): Promise<void> {
    let backoff = 1_000;
    while (!this.#stopped) {
      try {
        const body = await this.#client.stream(this.#path, this.#abort.signal);
        backoff = 1_000;
        const events = new EventSplitter();
        for await (const chunk of body) {
          if (events.push(chunk.toString("utf8")) > 0) this.#onChange();
        }
      } catch (err) {
        // 404: a server without the stream; 401/403: a token that may not read it.
        if (err instanceof ApiError && [401, 403, 404].includes(err.status)) return;
      }
      if (this.#stopped) return;
      await new Promise<void>((resolve) => {
        this.#wait = setTimeout(resolve, backoff);
      });
      backoff = Math.min(30_000, backoff * 2);
    }
  }
}

/** Counts complete SSE events (a block with an `event:` or `data:` field) in a byte stream; comments are not events. */
export class EventSplitter {
  #buffer = "";

  /** Adds text; returns how many events it completed. */
  push(text: string): number {
    this.#buffer += text.replace(/\r\n?/g, "\n");
    let count = 0;
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end < 0) break;
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      if (block.split("\n").some((l) => l.startsWith("data:") || l.startsWith("event:"))) count++;
    }
    return count;
  }
}
