/**
 * A Server-Sent Events parser, as the HTML standard's "event stream interpretation" says, for
 * streams read with `fetch()`: EventSource cannot send an Authorization header, so the dashboard
 * reads `/api/v1/stream` itself and feeds the decoded text here chunk by chunk. Chunks may split
 * anywhere, including between the `\r` and `\n` of one line ending.
 *
 * @module
 */

export interface SseMessage {
  /** The `event:` field; "message" when the server sent none. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last event id in force when this message was dispatched ("" when none was ever set). */
  lastEventId: string;
}

export interface SseSink {
  message(m: SseMessage): void;
  /** A `retry:` field: the reconnection delay the server asks for, in ms. */
  retry?(ms: number): void;
}

export class SseParser {
  readonly #sink: SseSink;
  #buffer = "";
  /** The previous chunk ended with `\r`: a `\n` starting the next one belongs to that ending. */
  #pendingCr = false;
  #first = true;
  #event = "";
  #data: string[] = [];
  #lastEventId = "";

  constructor(sink: SseSink) {
    this.#sink = sink;
  }

  /** The id the stream last set, for `Last-Event-ID` on reconnection. */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** Feeds decoded text; dispatches every message the text completes. */
  push(chunk: string): void {
    if (chunk === "") return;
    if (this.#first) {
      this.#first = false;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    if (this.#pendingCr && chunk[0] === "\n") chunk = chunk.slice(1);
    this.#pendingCr = false;
    let text = this.#buffer + chunk;
    let start = 0;
    for (;;) {
      const cr = text.indexOf("\r", start);
      const lf = text.indexOf("\n", start);
      if (cr === -1 && lf === -1) break;
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr + 1 === text.length) {
          // Cannot tell yet whether a `\n` follows: take the line, remember the `\r`.
          this.#pendingCr = true;
          next = cr + 1;
        } else next = text[cr + 1] === "\n" ? cr + 2 : cr + 1;
      } else {
        end = lf;
        next = lf + 1;
      }
      this.#line(text.slice(start, end));
      start = next;
    }
    text = text.slice(start);
    this.#buffer = text;
  }

  /** The stream ended: an unterminated message is discarded, as the standard says. */
  end(): void {
    this.#buffer = "";
    this.#pendingCr = false;
    this.#event = "";
    this.#data = [];
  }

  #line(line: string): void {
    if (line === "") {
      this.#dispatch();
      return;
    }
    if (line[0] === ":") return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    switch (field) {
      case "event":
        this.#event = value;
        break;
      case "data":
        this.#data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.#lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.#sink.retry?.(Number(value));
        break;
      default:
        // Unknown fields are ignored.
        break;
    }
  }

  #dispatch(): void {
    const data = this.#data;
    const event = this.#event;
    this.#data = [];
    this.#event = "";
    if (data.length === 0) return;
    this.#sink.message({
      event: event === "" ? "message" : event,
      data: data.join("\n"),
      lastEventId: this.#lastEventId,
    });
  }
}
