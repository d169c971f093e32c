/**
 * A tiny sample service for the demo and the tests: answers with its version, and can be told
 * to fail a share of requests or to be slow, so a bad version looks bad to the analysis, and to
 * turn fewer sessions into orders (a business regression).
 *
 * @module
 */

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ConversionLog } from "./conversions.js";

export interface SampleServiceOptions {
  version: string;
  /** Share of requests (0-1) answered with 500. */
  errorRate?: number;
  /** Added latency in ms (uniform between half and one and a half times this). */
  latencyMs?: number;
  /** Share of successful requests (sessions) that end in an order, recorded in `conversions`. */
  conversionRate?: number;
  conversions?: ConversionLog;
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
    const fail = Math.random() < (opts.errorRate ?? 0);
    opts.conversions?.record(opts.version, !fail && Math.random() < (opts.conversionRate ?? 0));
    const delay = opts.latencyMs ? opts.latencyMs * (0.5 + Math.random()) : 0;
    const reply = () => {
      const body = JSON.stringify({ version: opts.version, path: req.url, ok: !fail });
      res.writeHead(fail ? 500 : 200, {
        "content-type": "application/json",
        "x-version": opts.version,
      });
      res.end(`${body}\n`);
    };
    req.resume();
    if (delay > 0) setTimeout(reply, delay);
    else reply();
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
