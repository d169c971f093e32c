/**
 * One upstream process (stable or canary): answers every request with 200 and an 18-byte
 * body naming itself, and counts them; `GET /__count` returns the count (and is not counted).
 *
 * With `--track on` (bench:rollback) it also remembers when the last counted request arrived,
 * on the epoch clock in high resolution (`performance.timeOrigin + performance.now()`):
 * `GET /__last` returns `{"count":N,"lastAt":ms}` and `GET /__now` returns that clock, so the
 * orchestrator can check that both processes read the same time. Without it, the request path
 * is exactly as before.
 *
 * Usage: node --import tsx bench/proxy/upstream.ts --port N --name stable|canary [--track on]
 *
 * @module
 */

import http from "node:http";
import { performance } from "node:perf_hooks";
import { ChildArgs } from "./child-args.js";

const args = new ChildArgs();
const port = args.number("port");
const track = args.optional("track") === "on";
const body = Buffer.from(`hello from ${args.text("name")}\n`);
const headers = { "content-type": "text/plain", "content-length": String(body.length) };
let served = 0;
let lastAt = 0;
const origin = performance.timeOrigin;

const counting: http.RequestListener = (req, res) => {
  req.resume();
  if (req.url === "/__count") {
    res.end(String(served));
    return;
  }
  served++;
  res.writeHead(200, headers);
  res.end(body);
};

const tracking: http.RequestListener = (req, res) => {
  const at = origin + performance.now();
  req.resume();
  if (req.url?.startsWith("/__")) {
    if (req.url === "/__count") res.end(String(served));
    else if (req.url === "/__last") res.end(JSON.stringify({ count: served, lastAt }));
    else if (req.url === "/__now") res.end(JSON.stringify({ now: origin + performance.now() }));
    else res.writeHead(404).end();
    return;
  }
  served++;
  lastAt = at;
  res.writeHead(200, headers);
  res.end(body);
};

const server = http.createServer(track ? tracking : counting);
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(port, "127.0.0.1");
