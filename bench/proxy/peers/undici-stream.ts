/**
 * Peer: the floor for a Node proxy on undici, as the research measured it — one
 * `undici.Pool` per upstream (256 connections, no pipelining) and `pool.stream()` writing the
 * upstream's answer straight into the response, with the murmur3 split and nothing else: no
 * hop-by-hop handling, no forwarding headers, no metrics, no timeouts or retries. Aviary does
 * all of those on the same client, so its CPU per request over this one is what they cost.
 * Usage: node --import tsx bench/proxy/peers/undici-stream.ts --port N --stable URL --canary URL --canary-bp N
 *
 * @module
 */

import http from "node:http";
import { Pool } from "undici";
import { peerConfig, splitter } from "./split.js";

const cfg = peerConfig();
const choose = splitter(cfg);
const pools = new Map(
  [cfg.stable, cfg.canary].map((origin) => [
    origin,
    new Pool(origin, { connections: 256, pipelining: 1 }),
  ]),
);

const server = http.createServer((req, res) => {
  const pool = pools.get(choose(req.headers["x-user-id"])) as Pool;
  pool.stream(
    { path: req.url ?? "/", method: req.method as "GET", headers: req.headers, body: req },
    ({ statusCode, headers }) => {
      res.writeHead(statusCode, headers as http.OutgoingHttpHeaders);
      return res;
    },
    (err) => {
      if (err === null) return;
      if (!res.headersSent) res.writeHead(502);
      res.end();
    },
  );
});
server.keepAliveTimeout = 65_000;
server.listen(cfg.port, "127.0.0.1");
