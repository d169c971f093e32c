/**
 * Traffic mirroring: a copy of a live request goes to the canary and its response is thrown
 * away. The copy never touches the user's exchange: it leaves only after the user's request
 * body has arrived (buffered alongside, up to a limit), its concurrency is bounded, and
 * anything over either bound is dropped and counted rather than queued.
 *
 * @module
 */

import { performance } from "node:perf_hooks";
import { Transform } from "node:stream";
import type { ProxySettings } from "../spec/schema.js";
import type { Clock } from "../util/clock.js";
import type { Exchange } from "./exchange.js";
import type { MirrorPlan } from "./plan.js";
import { classifyUpstreamError } from "./upstream-errors.js";

export class Mirrorer {
  readonly #maxInFlight: number;
  readonly #maxBodyBytes: number;
  readonly #clock: Clock;
  #inFlight = 0;
  #dropped = 0;
  #sent = 0;
  #idle: (() => void) | undefined;

  constructor(proxy: ProxySettings, clock: Clock) {
    this.#maxInFlight = proxy.mirrorConcurrency;
    this.#maxBodyBytes = proxy.mirrorMaxBodyBytes;
    this.#clock = clock;
  }

  get stats(): { inFlight: number; dropped: number; sent: number } {
    return { inFlight: this.#inFlight, dropped: this.#dropped, sent: this.#sent };
  }

  /**
   * Starts a copy of `ex` to the mirror plan's version, if the bounds allow. For a request with
   * a body, replaces `ex.body` with a tee the user's request then streams through.
   */
  copy(ex: Exchange, plan: MirrorPlan): void {
    if (this.#inFlight >= this.#maxInFlight) {
      this.#dropped++;
      return;
    }
    // Reserve the slot now, so a burst of bodies being buffered cannot overshoot the bound.
    this.#inFlight++;
    const headers = [...ex.forwardHeaders, "x-aviary-mirror", "1"];
    if (!ex.hasBody) {
      this.#send(ex, plan, headers, null);
      return;
    }
    // The body goes upstream through a tee that keeps a copy, so both see every chunk and
    // the user's upload keeps its own back-pressure. Too large a body drops the copy.
    const chunks: Buffer[] = [];
    let size = 0;
    let abandoned = false;
    let settled = false;
    const settle = (send: boolean) => {
      if (settled) return;
      settled = true;
      if (send) this.#send(ex, plan, headers, Buffer.concat(chunks));
      else this.#release(true);
    };
    const tee = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        if (!abandoned) {
          size += chunk.length;
          if (size > this.#maxBodyBytes) {
            abandoned = true;
            chunks.length = 0;
          } else chunks.push(chunk);
        }
        done(null, chunk);
      },
      flush: (done) => {
        settle(!abandoned);
        done();
      },
    });
    ex.req.once("error", (err) => {
      tee.destroy(err);
      settle(false);
    });
    ex.body = ex.req.pipe(tee);
  }

  /** Resolves once no copy is in flight. */
  async drain(): Promise<void> {
    if (this.#inFlight === 0) return;
    await new Promise<void>((resolve) => {
      this.#idle = resolve;
    });
  }

  #send(ex: Exchange, plan: MirrorPlan, headers: string[], body: Buffer | null): void {
    const version = plan.to;
    const target = version.targets.pick(this.#clock.now());
    const started = performance.now();
    const svc = ex.service!;
    this.#sent++;
    target.pool
      .request({
        path: ex.url,
        method: ex.req.method as "GET",
        headers,
        body,
        headersTimeout: svc.responseTimeoutMs,
        bodyTimeout: svc.idleTimeoutMs,
      })
      .then(async ({ statusCode, body: responseBody }) => {
        await responseBody.dump({ limit: Number.POSITIVE_INFINITY });
        version.recorder.response(statusCode, performance.now() - started);
      })
      .catch((err: Error & { code?: string }) => {
        // A copy undici refuses as sent (a bad request) is no failure of the canary.
        const failure = classifyUpstreamError(err);
        if (failure.blame === "target")
          version.recorder.failure(failure.kind, performance.now() - started);
      })
      .finally(() => this.#release(false));
  }

  #release(dropped: boolean): void {
    if (dropped) this.#dropped++;
    if (--this.#inFlight === 0 && this.#idle !== undefined) {
      this.#idle();
      this.#idle = undefined;
    }
  }
}
