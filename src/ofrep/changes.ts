/**
 * OFREP's change notification: server-sent events telling static-context clients (web pages)
 * to fetch their flags again, `{"type":"refetchEvaluation","etag":...}`, when the served flags
 * change. The stream carries no flag value, only that something changed. Streams are bounded
 * (each holds a socket), and a comment line every heartbeat keeps proxies from closing a quiet
 * one and lets a dead peer be noticed; a stream whose client key was revoked is ended then.
 *
 * @module
 */

import type { ServerResponse } from "node:http";
import type { FlagSet } from "../flags/served.js";

export interface ChangeStreamsOptions {
  maxStreams: number;
  heartbeatMs: number;
  /** Whether the client key a stream was opened with is still known (checked every heartbeat). */
  keyKnown: (name: string) => boolean;
}

export class ChangeStreams {
  readonly #opts: ChangeStreamsOptions;
  /** Each open stream, with the name of the client key it was opened with. */
  readonly #open = new Map<ServerResponse, string>();
  readonly #timer: NodeJS.Timeout;

  constructor(opts: ChangeStreamsOptions) {
    this.#opts = opts;
    this.#timer = setInterval(() => this.#heartbeat(), opts.heartbeatMs);
    this.#timer.unref();
  }

  get size(): number {
    return this.#open.size;
  }

  /** Takes the response as a stream; false (nothing written) when the cap is reached. */
  add(res: ServerResponse, key: string, headers: Record<string, string>): boolean {
    if (this.#open.size >= this.#opts.maxStreams) return false;
    res.writeHead(200, {
      ...headers,
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    });
    // How long an EventSource waits before reconnecting after the stream ends.
    res.write("retry: 2000\n\n");
    this.#open.set(res, key);
    res.on("close", () => this.#open.delete(res));
    return true;
  }

  /** The flags changed: every open stream is told to fetch again. */
  changed(set: FlagSet): void {
    const data = JSON.stringify({ type: "refetchEvaluation", etag: `"${set.revision}"` });
    this.#broadcast(`data: ${data}\n\n`);
  }

  closeAll(): void {
    clearInterval(this.#timer);
    for (const res of this.#open.keys()) res.destroy();
    this.#open.clear();
  }

  /** Keeps quiet streams alive, and ends those whose key was revoked since they opened. */
  #heartbeat(): void {
    const known = new Map<string, boolean>();
    for (const [res, key] of this.#open) {
      let ok = known.get(key);
      if (ok === undefined) {
        ok = this.#opts.keyKnown(key);
        known.set(key, ok);
      }
      if (ok) res.write(": heartbeat\n\n");
      else {
        this.#open.delete(res);
        res.end();
      }
    }
  }

  #broadcast(text: string): void {
    for (const res of this.#open.keys()) res.write(text);
  }
}
