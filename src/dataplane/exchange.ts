/**
 * One proxied request. The Exchange is also undici's dispatch handler for it: the response is
 * written straight from the upstream socket's callbacks into the client's response, with
 * back-pressure both ways, and no closures or stream adapters are made per request.
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import type { Decidable } from "./decide.js";
import type { ForwardContext } from "./headers.js";
import { relayResponseHeaders } from "./headers.js";
import type { RouterPlan, ServicePlan, VersionPlan } from "./plan.js";
import type { HeaderSlots } from "./request-view.js";
import type { Target } from "./targets.js";
import { BODY_TIMEOUT_CODE } from "./upstream-errors.js";

/** What an exchange reports back to the router that owns it. */
export interface ExchangeOwner {
  /** True while the router drains: responses then close their connection. */
  readonly draining: boolean;
  /** The upstream response was relayed in full. */
  completed(ex: Exchange): void;
  /** The upstream exchange failed (connect, timeout, reset, a bad request, or the client left). */
  failed(ex: Exchange, err: Error & { code?: string }): void;
  /** undici took the request onto a connection and will now read its body from the client. */
  uploadStarted(ex: Exchange): void;
  /** The whole request body went upstream. */
  uploadEnded(ex: Exchange): void;
}

export class Exchange implements Decidable, ForwardContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly owner: ExchangeOwner;
  readonly url: string;
  readonly clientAddress: string | undefined;
  readonly proto: string;
  readonly slots: HeaderSlots;
  readonly captured: Array<string | undefined>;
  /** performance.now() when the request arrived. */
  readonly startedAt: number;
  /** Set by the header pass when the request carries a body (Content-Length above 0, or chunked). */
  hasBody = false;
  /** What undici reads the request body from: the request itself, or the mirror's tee. */
  body: Readable | null = null;
  stickyIdToSet: string | undefined = undefined;
  service: ServicePlan | undefined = undefined;
  version: VersionPlan | undefined = undefined;
  target: Target | undefined = undefined;
  /** Upstream request headers, built once and reused by a retry and the mirror. */
  forwardHeaders: string[] = [];
  status = 0;
  attempts = 0;
  /** The exchanges in flight on the client's connection; this one is in it until it ends. */
  openOnSocket: Set<Exchange> | undefined = undefined;
  /** True while the router watches this request's upload for stalls. */
  uploading = false;
  /** Body chunks undici wrote upstream; the router's stall check compares it between sweeps. */
  bodyChunks = 0;
  /** What {@link bodyChunks} was at the last sweep, and since when (performance.now()) it has not moved. */
  bodyMark = 0;
  bodyIdleSince = 0;
  #abort: ((err?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  #clientGone = false;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    plan: RouterPlan,
    owner: ExchangeOwner,
    startedAt: number,
  ) {
    this.req = req;
    this.res = res;
    this.owner = owner;
    this.url = req.url ?? "/";
    this.clientAddress = req.socket.remoteAddress;
    this.proto = "encrypted" in req.socket && req.socket.encrypted ? "https" : "http";
    this.slots = plan.slots;
    this.captured = new Array(plan.slots.size);
    this.startedAt = startedAt;
  }

  /** The request's captured headers, as the routing rules read them. */
  get headers(): Array<string | undefined> {
    return this.captured;
  }

  // ---- undici dispatch handler ----

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#clientGone) abort(clientGoneError());
    else if (this.hasBody) this.owner.uploadStarted(this);
  }

  onBodySent(): void {
    this.bodyChunks++;
  }

  onRequestSent(): void {
    if (this.uploading) this.owner.uploadEnded(this);
  }

  /**
   * The client's upload stalled past `proxy.requestBodyTimeout`: stop the upstream request.
   * undici reports the abort as an error the owner puts down to the request, not the target.
   */
  uploadStalled(): void {
    this.#abort?.(
      Object.assign(new Error("the request body stalled"), { code: BODY_TIMEOUT_CODE }),
    );
  }

  /**
   * The client's connection closed before the exchange ended: stop the upstream request now
   * rather than when the upstream answers (a slow or long-polling upstream would otherwise
   * keep working, and keep a pooled connection, for nobody). undici then reports an error,
   * which the owner, seeing {@link clientLeft}, puts down to the client, not the upstream.
   */
  clientGone(): void {
    this.#clientGone = true;
    this.#abort?.(clientGoneError());
  }

  /** True once the client's connection closed (Node may not have destroyed `res` yet). */
  get clientLeft(): boolean {
    return this.#clientGone;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx interim responses are the upstream's business; Node answered the client's 100-continue.
    if (statusCode < 200) return true;
    const res = this.res;
    if (res.destroyed) {
      this.#abort?.();
      return false;
    }
    this.status = statusCode;
    const headers = new Array<string>(rawHeaders.length);
    for (let i = 0; i < rawHeaders.length; i++)
      headers[i] = (rawHeaders[i] as Buffer).toString("latin1");
    const out = relayResponseHeaders(headers);
    if (this.stickyIdToSet !== undefined) {
      const sticky = this.service!.sticky;
      if (sticky?.kind === "cookie")
        out.push("set-cookie", `${sticky.name}=${this.stickyIdToSet}${sticky.setCookieSuffix}`);
    }
    if (this.owner.draining) out.push("connection", "close");
    res.writeHead(statusCode, out);
    this.#resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    const res = this.res;
    if (res.destroyed) {
      this.#abort?.();
      return false;
    }
    if (res.write(chunk)) return true;
    // The client is slower than the upstream: pause undici until the client catches up.
    res.once("drain", this.#resume as () => void);
    return false;
  }

  onComplete(): void {
    this.res.end();
    this.owner.completed(this);
  }

  onError(err: Error & { code?: string }): void {
    this.owner.failed(this, err);
  }
}

function clientGoneError(): Error & { code: string } {
  return Object.assign(new Error("the client closed its connection"), {
    code: "AVIARY_CLIENT_GONE",
  });
}
