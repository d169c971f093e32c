/**
 * Protocol upgrades (WebSocket): the same routing decision as an ordinary request, then the
 * upgrade handshake is forwarded on a fresh connection and, once the upstream answers 101,
 * the two sockets are piped together byte for byte.
 *
 * @module
 */

import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { Clock } from "../util/clock.js";
import { chooseVersion, findService } from "./decide.js";
import { forwardRequestHeaders, VIA } from "./headers.js";
import type { RouterPlan } from "./plan.js";

export function proxyUpgrade(
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
  plan: RouterPlan,
  clock: Clock,
): void {
  const started = performance.now();
  const captured: Array<string | undefined> = new Array(plan.slots.size);
  const ctx = {
    slots: plan.slots,
    captured,
    clientAddress: req.socket.remoteAddress,
    proto: "http",
    hasBody: false,
    url: req.url ?? "/",
    headers: captured,
    stickyIdToSet: undefined as string | undefined,
  };
  const headers = forwardRequestHeaders(req.rawHeaders, ctx);
  const svc = findService(plan, captured[plan.hostSlot], ctx.url);
  client.on("error", () => client.destroy());
  if (svc === undefined) {
    writeRawResponse(client, 404, "no service matches this request\n");
    return;
  }
  const version = chooseVersion(svc, ctx);
  const target = version.targets.pick(clock.now());
  // forwardRequestHeaders drops Connection and Upgrade as hop-by-hop; an upgrade needs them.
  headers.push("connection", "upgrade", "upgrade", req.headers.upgrade ?? "websocket");
  const url = new URL(target.origin);
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  const upstreamReq = send({
    host: url.hostname,
    port: url.port,
    method: req.method,
    path: ctx.url,
    headers,
    setHost: false,
    timeout: svc.responseTimeoutMs,
  });
  upstreamReq.on("upgrade", (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
    const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ""}`];
    for (let i = 0; i < res.rawHeaders.length; i += 2)
      lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
    lines.push(`via: ${VIA}`);
    client.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (head.length > 0) upstream.write(head);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    upstream.pipe(client).on("close", () => upstream.destroy());
    client.pipe(upstream).on("close", () => client.destroy());
    version.recorder.response(101, performance.now() - started);
  });
  // The upstream refused the upgrade with an ordinary response: relay it and close.
  upstreamReq.on("response", (res: IncomingMessage) => {
    const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ""}`];
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const name = (res.rawHeaders[i] as string).toLowerCase();
      if (name !== "connection" && name !== "transfer-encoding" && name !== "keep-alive") {
        lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
      }
    }
    lines.push("connection: close");
    client.write(`${lines.join("\r\n")}\r\n\r\n`);
    res.pipe(client);
    version.recorder.response(res.statusCode ?? 502, performance.now() - started);
  });
  upstreamReq.on("timeout", () =>
    upstreamReq.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })),
  );
  upstreamReq.on("error", (err: Error & { code?: string }) => {
    const timedOut = err.code === "ETIMEDOUT";
    version.recorder.failure(timedOut ? "timeout" : "connect", performance.now() - started);
    target.recordFailure(version.targets.policy, clock.now());
    if (client.writable) writeRawResponse(client, timedOut ? 504 : 502, "upstream unavailable\n");
  });
  upstreamReq.end();
}

function writeRawResponse(socket: Socket, status: number, body: string): void {
  const reason = status === 404 ? "Not Found" : status === 504 ? "Gateway Timeout" : "Bad Gateway";
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nvia: ${VIA}\r\nconnection: close\r\n\r\n${body}`,
  );
}
