/**
 * What the router refuses by itself, counted by reason for `/metrics`. These are never a
 * version's failures: the version's metrics (which the canary analysis reads) and the targets'
 * outlier state only ever see what an upstream did.
 *
 * @module
 */

import type { IncomingMessage, Server } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";

/** Why the router answered a request itself, or refused a connection. */
export const REJECT_REASONS = [
  /** 400: a request Aviary cannot forward as sent (a second Host, a header or path undici refuses). */
  "bad_request",
  /** 405: TRACE or CONNECT. */
  "method",
  /** 505: a request line with a version other than HTTP/1.0 or HTTP/1.1. */
  "http_version",
  /** 408: the upload stalled longer than `proxy.requestBodyTimeout`. */
  "body_timeout",
  /** 503: every connection and queue place of the version's targets was taken. */
  "overload",
  /** 400/431/408 from Node's parser: malformed or oversized head, head too slow. */
  "malformed",
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];

/** Plain counters, incremented on the (rare) refusal paths and read at scrape time. */
export class RejectionCounters {
  readonly requests: Record<RejectReason, number> = {
    bad_request: 0,
    method: 0,
    http_version: 0,
    body_timeout: 0,
    overload: 0,
    malformed: 0,
  };
  /** Connections closed at accept because `proxy.maxConnections` were open. */
  connectionsRefused = 0;
}

/** What Aviary forwards; sent in `Allow` with a 405 (TRACE and CONNECT are refused). */
export const ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

const METHOD_NOT_ALLOWED =
  "HTTP/1.1 405 Method Not Allowed\r\n" +
  `Allow: ${ALLOWED_METHODS}\r\n` +
  "Content-Type: text/plain; charset=utf-8\r\n" +
  "Content-Length: 29\r\n" +
  "Via: 1.1 aviary\r\n" +
  "Connection: close\r\n\r\n" +
  "this method is not forwarded\n";

/** Node's own answers to a request it could not parse (lib/_http_server.js), kept byte for byte. */
const PARSE_ERROR_RESPONSES: Record<string, string> = {
  HPE_HEADER_OVERFLOW: "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n",
  HPE_CHUNK_EXTENSIONS_OVERFLOW: "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n",
  ERR_HTTP_REQUEST_TIMEOUT: "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n",
};
const BAD_REQUEST_RESPONSE = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";

// Socket errors after the refusal was written (the client resets): nothing left to do.
function ignore(): void {}

/**
 * Refusals the server makes before a request reaches the router's handler, each counted:
 * connections past `maxConnections` (Node closes them at accept and emits 'drop', Node ≥ 18.6),
 * CONNECT (405; without a listener Node would just close the socket, saying nothing), and heads
 * Node's parser rejects (answered exactly as Node would, counted as `malformed`).
 */
export function guardServer(
  server: Server,
  counters: RejectionCounters,
  maxConnections: number,
): void {
  server.maxConnections = maxConnections;
  server.on("drop", () => {
    counters.connectionsRefused++;
  });
  server.on("connect", (_req: IncomingMessage, socket: Duplex) => {
    counters.requests.method++;
    socket.on("error", ignore);
    // Destroyed once written, not merely half-closed: a client that never closes its side
    // would otherwise keep holding a connection place.
    socket.write(METHOD_NOT_ALLOWED);
    (socket as Socket).destroySoon();
  });
  server.on("clientError", (err: Error & { code?: string }, socket: Duplex) => {
    const code = err.code ?? "";
    // A client resetting its own connection is no refusal.
    if (code.startsWith("HPE_") || code === "ERR_HTTP_REQUEST_TIMEOUT") {
      counters.requests.malformed++;
      // Only on a connection that has not been answered yet: after a response the peer would
      // read these bytes as garbage (Node's own rule).
      if (socket.writable && (socket as Socket).bytesWritten === 0)
        socket.write(PARSE_ERROR_RESPONSES[code] ?? BAD_REQUEST_RESPONSE);
    }
    socket.destroy(err);
  });
}
