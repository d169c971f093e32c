/**
 * The demo shop's business numbers: every request to a version is a session, some end in an
 * order. The sample versions record them here, per version and per second, and a small JSON
 * endpoint answers "sessions and orders of version V in [from, to)", which the analysis reads in
 * the web provider's counts mode to judge orders per session (a rate that must not fall).
 *
 * @module
 */

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

interface Second {
  sessions: number;
  orders: number;
}

/** Seconds kept per version: more than any analysis window of the demo. */
const KEEP_SECONDS = 3_600;

export class ConversionLog {
  readonly #byVersion = new Map<string, Map<number, Second>>();

  record(version: string, ordered: boolean, now = Date.now()): void {
    let seconds = this.#byVersion.get(version);
    if (seconds === undefined) {
      seconds = new Map();
      this.#byVersion.set(version, seconds);
    }
    const sec = Math.floor(now / 1000);
    let s = seconds.get(sec);
    if (s === undefined) {
      s = { sessions: 0, orders: 0 };
      seconds.set(sec, s);
      seconds.delete(sec - KEEP_SECONDS);
    }
    s.sessions++;
    if (ordered) s.orders++;
  }

  /** Sessions and orders of `version` in the whole seconds that start in [from, to) (epoch ms). */
  counts(version: string, from: number, to: number): Second {
    const out = { sessions: 0, orders: 0 };
    const seconds = this.#byVersion.get(version);
    if (seconds === undefined) return out;
    for (let sec = Math.ceil(from / 1000); sec * 1000 < to; sec++) {
      const s = seconds.get(sec);
      if (s === undefined) continue;
      out.sessions += s.sessions;
      out.orders += s.orders;
    }
    return out;
  }
}

export interface StatsServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  close(): Promise<void>;
}

/** Serves `GET /stats/VERSION?from=MS&to=MS` as `{ "sessions": n, "orders": n }`. */
export async function startStatsServer(log: ConversionLog): Promise<StatsServer> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://stats");
    const match = /^\/stats\/([^/]+)$/.exec(url.pathname);
    const from = Number(url.searchParams.get("from"));
    const to = Number(url.searchParams.get("to"));
    if (req.method !== "GET" || match === null || !Number.isFinite(from) || !(to > from)) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "GET /stats/VERSION?from=MS&to=MS" }));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(log.counts(decodeURIComponent(match[1] as string), from, to)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
