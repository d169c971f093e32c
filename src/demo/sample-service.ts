/**
 * A tiny sample service for the demo and the tests: answers with its version, and can be told
 * to fail a share of requests or to be slow, so a bad version looks bad to the analysis, and to
 * turn fewer sessions into orders (a business regression). In the demo's flag chapter it is also
 * the application behind a feature flag: it asks OpenFeature for `new-checkout` per request, and
 * the new checkout fails a share of the requests of the users who get it.
 *
 * @module
 */

import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Client, EvaluationContext } from "@openfeature/server-sdk";
import type { ConversionLog } from "./conversions.js";

/** The flag the flag chapter's shop asks for on every request. */
export const CHECKOUT_FLAG = "new-checkout";

/**
 * The shop's flag: a holder, because the OpenFeature client exists only once Aviary (and its
 * OFREP listener, which the service's address must be in the spec of) is up.
 */
export interface CheckoutFlag {
  client: Client | undefined;
  /** Share of requests (0-1) the new checkout fails. */
  errorRate: number;
}

export interface SampleServiceOptions {
  version: string;
  /** Share of requests (0-1) answered with 500. */
  errorRate?: number;
  /** Added latency in ms (uniform between half and one and a half times this). */
  latencyMs?: number;
  /** Share of successful requests (sessions) that end in an order, recorded in `conversions`. */
  conversionRate?: number;
  conversions?: ConversionLog;
  /** Evaluate `new-checkout` per request and report errors and latency to the provider. */
  checkout?: CheckoutFlag;
  host?: string;
  port?: number;
}

export interface SampleService {
  server: Server;
  url: string;
  served: number;
  close(): Promise<void>;
}

export async function startSampleService(opts: SampleServiceOptions): Promise<SampleService> {
  const state = { served: 0 };
  const server = createServer((req, res) => {
    state.served++;
    const started = performance.now();
    void newCheckout(opts.checkout, req.headers).then(({ on, ctx }) => {
      const failRate = on ? (opts.checkout?.errorRate ?? 0) : (opts.errorRate ?? 0);
      const fail = Math.random() < failRate;
      opts.conversions?.record(opts.version, !fail && Math.random() < (opts.conversionRate ?? 0));
      const delay = opts.latencyMs ? opts.latencyMs * (0.5 + Math.random()) : 0;
      const reply = () => {
        const body = JSON.stringify({ version: opts.version, path: req.url, ok: !fail });
        const headers: Record<string, string> = {
          "content-type": "application/json",
          "x-version": opts.version,
        };
        if (ctx !== undefined) {
          headers["x-checkout"] = on ? "new" : "old";
          const client = opts.checkout?.client;
          if (fail) client?.track("error", ctx);
          client?.track("latency", ctx, { value: performance.now() - started });
        }
        res.writeHead(fail ? 500 : 200, headers);
        res.end(`${body}\n`);
      };
      if (delay > 0) setTimeout(reply, delay);
      else reply();
    });
    req.resume();
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) =>
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", resolve),
  );
  const { address, port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://${address}:${port}`,
    get served() {
      return state.served;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Whether this request's user gets the new checkout (false without a flag or client yet). */
async function newCheckout(
  flag: CheckoutFlag | undefined,
  headers: IncomingHttpHeaders,
): Promise<{ on: boolean; ctx: EvaluationContext | undefined }> {
  const client = flag?.client;
  if (client === undefined) return { on: false, ctx: undefined };
  const user = headers["x-user-id"];
  const type = headers["user-type"];
  // Header values come from anyone: only a short single string is a user id worth bucketing.
  const ctx: EvaluationContext = {
    targetingKey: typeof user === "string" ? user.slice(0, 128) : "anonymous",
    ...(typeof type === "string" ? { "user-type": type.slice(0, 64) } : {}),
  };
  return { on: await client.getBooleanValue(CHECKOUT_FLAG, false, ctx), ctx };
}
