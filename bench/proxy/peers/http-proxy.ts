/**
 * Peer: node-http-proxy (http-proxy 1.18) with a keep-alive agent, choosing the upstream per
 * request with the murmur3 split. Without an agent http-proxy sends `connection: close`
 * upstream, which the research measured at a third of this speed.
 * Usage: node --import tsx bench/proxy/peers/http-proxy.ts --port N --stable URL --canary URL --canary-bp N
 *
 * @module
 */

import http from "node:http";
import { createRequire } from "node:module";
import { peerConfig, splitter } from "./split.js";

/** The part of http-proxy's API used here (the package ships no types). */
interface ProxyServer {
  web(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    options: { target: string },
    onError: (err: Error) => void,
  ): void;
}
interface HttpProxy {
  createProxyServer(options: { agent: http.Agent }): ProxyServer;
}

const httpProxy = createRequire(import.meta.url)("http-proxy") as HttpProxy;
const cfg = peerConfig();
const choose = splitter(cfg);
const proxy = httpProxy.createProxyServer({
  agent: new http.Agent({ keepAlive: true, maxSockets: 256 }),
});

const server = http.createServer((req, res) => {
  proxy.web(req, res, { target: choose(req.headers["x-user-id"]) }, () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(cfg.port, "127.0.0.1");
