/**
 * One upstream process (stable or canary): answers every request with 200 and an 18-byte
 * body naming itself, and counts them; `GET /__count` returns the count (and is not counted).
 * Usage: node --import tsx bench/proxy/upstream.ts --port N --name stable|canary
 *
 * @module
 */

import http from "node:http";
import { ChildArgs } from "./child-args.js";

const args = new ChildArgs();
const port = args.number("port");
const body = Buffer.from(`hello from ${args.text("name")}\n`);
const headers = { "content-type": "text/plain", "content-length": String(body.length) };
let served = 0;

const server = http.createServer((req, res) => {
  req.resume();
  if (req.url === "/__count") {
    res.end(String(served));
    return;
  }
  served++;
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(port, "127.0.0.1");
