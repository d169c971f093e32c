/**
 * Protocol upgrades (WebSocket): the same decision as an ordinary request (path normalised,
 * service, version, sticky cookie), then the handshake is forwarded on a connection of its
 * own and, once the upstream answers 101, the two sockets are piped together byte for byte.
 *
 * An upgrade never shares an upstream connection: it is sent with `agent: false`, so the
 * connection is new and is closed after a refusal rather than returned to a pool. A pooled one
 * would be reused after a refused upgrade, and whatever the upstream still expected on it
 * (say the body a `Content-Length` announced) would swallow the next user's request.
 *
 * An upgrade request with a body (`Content-Length` above 0, or `Transfer-Encoding`) is refused
 * with 400 rather than forwarded. WebSocket's handshake is a GET without one (RFC 6455 §4.1);
 * the only upgrade that carries one, h2c, is gone from HTTP/2 (RFC 9113 §3.1) and Aviary does
 * not speak it; and Node hands an upgrade's body over unparsed, so forwarding it exactly would
 * mean a second HTTP body parser here, next to the socket — a smuggling surface for no user.
 *
 * @module
 */

import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { Clock } from "../util/clock.js";
import { chooseVersion, findService } from "./decide.js";
import { forwardRequestHeaders, relayResponseHeaders, VIA } from "./headers.js";
import { normalizeRequestUrl } from "./path.js";
import type { RouterPlan, ServicePlan } from "./plan.js";
import type { RejectionCounters } from "./rejections.js";

export function proxyUpgrade(
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
  plan: RouterPlan,
  clock: Clock,
  rejections: RejectionCounters,
): void {
  const started = performance.now();
  client.on("error", () => client.destroy());
  // Refusals are the client's doing, counted with the router's other refusals, never as a
  // version's answer.
  const refuse = (body: string) => {
    rejections.requests.bad_request++;
    writeRawResponse(client, 400, body);
  };
  if (!normalizeRequestUrl(req)) {
    refuse("the request path is malformed\n");
    return;
  }
  const captured: Array<string | undefined> = new Array(plan.slots.size);
  const ctx = {
    slots: plan.slots,
    captured,
    clientAddress: req.socket.remoteAddress,
    proto: "encrypted" in req.socket && req.socket.encrypted ? "https" : "http",
    hasBody: false,
    url: req.url ?? "/",
    headers: captured,
    stickyIdToSet: undefined as string | undefined,
  };
  const headers = forwardRequestHeaders(req.rawHeaders, ctx, plan.trustedProxy);
  if (ctx.hasBody) {
    refuse("an upgrade request cannot carry a body\n");
    return;
  }
  // Node's parser requires Host of an HTTP/1.1 request but not of an upgrade; a second Host is
  // ambiguous (the header pass joins repeats with ", ", which no valid Host contains).
  const host = captured[plan.hostSlot];
  if (host === undefined ? req.httpVersionMinor === 1 : host.indexOf(",") !== -1) {
    refuse("an HTTP/1.1 request needs exactly one Host header\n");
    return;
  }
  const svc = findService(plan, host, ctx.url);
  if (svc === undefined) {
    writeRawResponse(client, 404, "no service matches this request\n");
    return;
  }
  let version = chooseVersion(svc, ctx);
  // As for ordinary requests: a canary with no target in rotation gets no users.
  if (version === svc.canary && !version.targets.anyAvailable(clock.now())) version = svc.stable;
  const target = version.targets.pick(clock.now());
  const policy = version.targets.policy;
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
    // A connection of its own, never pooled: see the module comment.
    agent: false,
    timeout: svc.responseTimeoutMs,
  });
  let answered = false;
  upstreamReq.on("upgrade", (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
    answered = true;
    // The response timeout covered the handshake; an open WebSocket may idle as long as it likes.
    upstream.setTimeout(0);
    const out = relayResponseHeaders(res.rawHeaders);
    out.push("connection", "upgrade", "upgrade", res.headers.upgrade ?? "websocket");
    client.write(responseHead(res, out, svc, ctx.stickyIdToSet));
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (head.length > 0) upstream.write(head);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    upstream.pipe(client).on("close", () => upstream.destroy());
    client.pipe(upstream).on("close", () => client.destroy());
    version.recorder.response(101, performance.now() - started);
    target.recordResponse(false, policy, clock.now());
  });
  // The upstream refused the upgrade with an ordinary response: relay it and close both ends.
  upstreamReq.on("response", (res: IncomingMessage) => {
    answered = true;
    const status = res.statusCode ?? 502;
    const out = relayResponseHeaders(res.rawHeaders);
    out.push("connection", "close");
    client.write(responseHead(res, out, svc, ctx.stickyIdToSet));
    // The body is relayed decoded; with Transfer-Encoding dropped, the close delimits it.
    res.pipe(client);
    res.on("end", () => upstreamReq.destroy());
    version.recorder.response(status, performance.now() - started);
    target.recordResponse(status >= 500, policy, clock.now());
  });
  upstreamReq.on("timeout", () =>
    upstreamReq.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })),
  );
  upstreamReq.on("error", (err: Error & { code?: string }) => {
    // After an answer, an error is a connection lost mid-way: nothing to say to the client.
    if (answered) {
      client.destroy();
      return;
    }
    answered = true;
    const timedOut = err.code === "ETIMEDOUT";
    version.recorder.failure(timedOut ? "timeout" : "connect", performance.now() - started);
    target.recordFailure(policy, clock.now());
    if (client.writable) writeRawResponse(client, timedOut ? 504 : 502, "upstream unavailable\n");
  });
  upstreamReq.end();
}

/** The status line and header block relayed to the client, with the sticky cookie if minted. */
function responseHead(
  res: IncomingMessage,
  headers: string[],
  svc: ServicePlan,
  stickyId: string | undefined,
): string {
  const sticky = svc.sticky;
  if (stickyId !== undefined && sticky?.kind === "cookie")
    headers.push("set-cookie", `${sticky.name}=${stickyId}${sticky.setCookieSuffix}`);
  let text = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ""}\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${text}\r\n`;
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  404: "Not Found",
  502: "Bad Gateway",
  504: "Gateway Timeout",
};

function writeRawResponse(socket: Socket, status: number, body: string): void {
  socket.write(
    `HTTP/1.1 ${status} ${REASONS[status]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nvia: ${VIA}\r\nconnection: close\r\n\r\n${body}`,
  );
  // Destroyed once written, not merely half-closed: a client that never closes its side would
  // otherwise keep holding a connection place.
  socket.destroySoon();
}
