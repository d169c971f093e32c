/**
 * A small HTTP server for the remote providers' tests: its handler can be swapped at any time,
 * `hang()` makes it take requests and never answer (a slow backend), and `close()` ends every
 * connection, hanging ones included. It records what it was asked, headers included, so tests
 * can check what a provider sends.
 *
 * @module
 */

import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type FakeHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

export interface FakeBackend {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Requests seen, in order. */
  seen: Array<{ url: URL; headers: IncomingMessage["headers"] }>;
  /** Answers every request from now on with `handler`. */
  handle(handler: FakeHandler): void;
  /** Answers `status` with `body` (JSON-encoded unless a string). */
  reply(status: number, body: unknown, contentType?: string): void;
  /** Takes requests and never answers them. */
  hang(): void;
  close(): Promise<void>;
}

export async function startFakeBackend(): Promise<FakeBackend> {
  let handler: FakeHandler = (_req, res) => {
    res.writeHead(404);
    res.end();
  };
  const seen: FakeBackend["seen"] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    seen.push({ url, headers: req.headers });
    req.resume();
    handler(req, res, url);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    handle: (h) => {
      handler = h;
    },
    reply: (status, body, contentType = "application/json") => {
      handler = (_req, res) => {
        res.writeHead(status, { "content-type": contentType });
        res.end(typeof body === "string" ? body : JSON.stringify(body));
      };
    },
    hang: () => {
      handler = () => {};
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
