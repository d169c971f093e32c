/**
 * The admin API as one table: each route is an entry (method, url, summary, tags, role,
 * zod schemas for params, query and body, what it answers), and that one entry is what
 * Fastify serves, what validates the request, what the auth hook enforces and what
 * `/openapi.json` documents. Adding a route is adding an entry.
 *
 * @module
 */

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import { AviaryError } from "../errors.js";
import type { Actor } from "../rollout/types.js";
import { formatPath } from "../spec/load.js";
import { type Access, type AccessConfig, actorOf, methodAccess } from "./auth.js";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** What a handler gets: the request's parts, validated, and the caller as an actor. */
export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  req: FastifyRequest;
  reply: FastifyReply;
  /** The authenticated caller as a history actor, `operator:<token name>`. */
  actor(): Actor;
}

export interface RouteSpec<P, Q, B> {
  method: Method;
  /** Fastify syntax: `/api/v1/services/:name`. */
  url: string;
  summary: string;
  description?: string;
  tags: readonly string[];
  /** public, or the least role a token needs; writes always need the operator. */
  role: Access;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  response: {
    /** Default 200. */
    status?: number;
    description: string;
    /** Default application/json; text/event-stream for a stream (no HEAD route then). */
    contentType?: string;
  };
  /** The answer (serialized as JSON), or the reply once sent. */
  handler(ctx: RouteContext<P, Q, B>): unknown;
}

/** A table entry with its types erased, ready to register and to document. */
export interface ApiRoute {
  readonly method: Method;
  readonly url: string;
  readonly summary: string;
  readonly description: string | undefined;
  readonly tags: readonly string[];
  readonly role: Access;
  readonly params: z.ZodType | undefined;
  readonly query: z.ZodType | undefined;
  readonly body: z.ZodType | undefined;
  readonly response: { status: number; description: string; contentType: string };
  run(req: FastifyRequest, reply: FastifyReply): Promise<unknown>;
}

/** One entry of the table; the handler sees its schemas' output types. */
export function route<P = undefined, Q = undefined, B = undefined>(
  spec: RouteSpec<P, Q, B>,
): ApiRoute {
  if (
    methodAccess(spec.method) === "operator" &&
    spec.role !== "operator" &&
    spec.role !== "router"
  )
    throw new Error(
      `${spec.method} ${spec.url}: a route that changes state needs the operator role`,
    );
  const response = {
    status: spec.response.status ?? 200,
    description: spec.response.description,
    contentType: spec.response.contentType ?? "application/json",
  };
  return {
    method: spec.method,
    url: spec.url,
    summary: spec.summary,
    description: spec.description,
    tags: spec.tags,
    role: spec.role,
    params: spec.params,
    query: spec.query,
    body: spec.body,
    response,
    async run(req, reply) {
      const ctx: RouteContext<P, Q, B> = {
        params: (spec.params ? parse(spec.params, req.params, "params") : undefined) as P,
        query: (spec.query ? parse(spec.query, req.query, "query") : undefined) as Q,
        body: (spec.body ? parse(spec.body, req.body, "body") : undefined) as B,
        req,
        reply,
        actor: () => actorOf(req),
      };
      const out = await spec.handler(ctx);
      if (out === reply || reply.sent) return reply;
      if (response.status !== 200) reply.code(response.status);
      return out;
    },
  };
}

/** Registers every entry, each carrying its access for the auth hook. */
export function registerRoutes(app: FastifyInstance, routes: readonly ApiRoute[]): void {
  for (const r of routes) {
    const config: AccessConfig = { access: r.role };
    app.route({
      method: r.method,
      url: r.url,
      config,
      // A HEAD of a stream would wait for an end that never comes.
      exposeHeadRoute: r.response.contentType !== "text/event-stream",
      handler: (req, reply) => r.run(req, reply),
    });
  }
}

/**
 * Validates one part of the request; a problem names each field as `body.field`,
 * `query.field` or `params.field`, so the client knows what to fix.
 */
export function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const detail = result.error.issues
    .map(
      (i) =>
        `${where}${i.path.length ? `.${formatPath(i.path as PropertyKey[])}` : ""}: ${i.message}`,
    )
    .join("; ");
  throw new AviaryError("AVIARY_BAD_REQUEST", detail);
}
