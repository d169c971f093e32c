/**
 * Peer: fastify + @fastify/reply-from on undici, registered without `base` and called with the
 * full upstream URL per request: the research found that a configured `base` wins over the
 * URL's origin, which would send every request to one upstream.
 * Usage: node --import tsx bench/proxy/peers/reply-from.ts --port N --stable URL --canary URL --canary-bp N
 *
 * @module
 */

import replyFrom from "@fastify/reply-from";
import Fastify from "fastify";
import { peerConfig, splitter } from "./split.js";

const cfg = peerConfig();
const choose = splitter(cfg);
const app = Fastify({ logger: false });
await app.register(replyFrom, { undici: { connections: 256, pipelining: 1 } });
app.all("/*", (req, reply) => reply.from(choose(req.headers["x-user-id"]) + req.raw.url));
await app.listen({ port: cfg.port, host: "127.0.0.1" });
