/**
 * Authentication and authorization for the admin server. The operator token is read from
 * AVIARY_TOKEN or from a file in the data directory, created (mode 0600) on first start; more
 * tokens, each with a role, come from the tokens file (see `tokens.ts`).
 *
 * One onRequest hook guards every route, before the body is even read. A route is public only
 * when it says so (`/healthz`, `/metrics`, `/openapi.json`); any other needs a token: GET and
 * HEAD any role, every other method the operator role — whatever a route declares, it can
 * only ask for more. The matched route decides, not the URL text, so a percent-encoded path
 * cannot slip past; an unmatched path under /api/ is refused like a route would be.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AviaryError } from "../errors.js";
import type { Actor } from "../rollout/types.js";
import { problem, sendProblem } from "./problem.js";
import type { Identity, TokenRegistry } from "./tokens.js";
import type { Role } from "./tokens-file.js";

export const TOKEN_FILE = "operator-token";

/** Who may call a route: anyone, or a token with at least this role. */
export type Access = Exclude<Role, "client"> | "public";

/** What a route registered on the admin server carries in its Fastify `config`. */
export interface AccessConfig {
  access?: Access;
}

/**
 * The operator token: AVIARY_TOKEN if set, else the data directory's token file, created with
 * a fresh random token when missing. Returns where it came from, never logging the token.
 */
export function loadOperatorToken(
  dataDir: string,
  env = process.env,
): { token: string; source: string } {
  const fromEnv = env.AVIARY_TOKEN;
  if (fromEnv !== undefined && fromEnv !== "") return { token: fromEnv, source: "AVIARY_TOKEN" };
  const file = join(dataDir, TOKEN_FILE);
  if (existsSync(file)) return { token: readFileSync(file, "utf8").trim(), source: file };
  const token = randomBytes(24).toString("base64url");
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: "wx" });
  return { token, source: file };
}

/** The least a method needs: reads any role, changes the operator. */
export function methodAccess(method: string): Exclude<Role, "client"> {
  return method === "GET" || method === "HEAD" ? "read-only" : "operator";
}

/**
 * The stronger of a route's declared access and what its method needs. A `router` route (the
 * fleet state and reports) takes a router or an operator token, whatever its method.
 */
export function effectiveAccess(method: string, declared: Access | undefined): Access {
  if (declared === "public" || declared === "router") return declared;
  return declared === "operator" ? "operator" : methodAccess(method);
}

const identities = new WeakMap<FastifyRequest, Identity>();

/** The caller a request authenticated as; undefined for public routes and anonymous reads. */
export function identityOf(req: FastifyRequest): Identity | undefined {
  return identities.get(req);
}

/** The caller as the actor of a command (`operator:<token name>`). */
export function actorOf(req: FastifyRequest): Actor {
  const who = identities.get(req);
  // Unreachable through the hook (commands need the operator role); refuse rather than guess.
  if (who === undefined) throw new AviaryError("AVIARY_UNAUTHORIZED", "no authenticated caller");
  return `operator:${who.name}`;
}

export interface AuthOptions {
  tokens: TokenRegistry;
  /** Let GET/HEAD under /api/ through without a token (writes still need the operator). */
  anonymousRead: boolean;
}

export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  app.addHook("onRequest", async (req, reply) => {
    const access = accessOf(req);
    if (access === "public") return;
    const route = `${req.method} ${req.routeOptions.url ?? pathOf(req.url)}`;
    const needs =
      access === "operator"
        ? "needs an operator token"
        : access === "router"
          ? "needs a router or operator token"
          : "needs a token (read-only or operator role)";
    const header = req.headers.authorization;
    if (header === undefined || header === "") {
      if (access === "read-only" && opts.anonymousRead) return;
      return unauthorized(reply, `${route} ${needs}: send Authorization: Bearer <token>`);
    }
    const token = /^Bearer +(\S+) *$/i.exec(header)?.[1];
    if (token === undefined) {
      return unauthorized(
        reply,
        `the Authorization header must be 'Bearer <token>'; ${route} ${needs}`,
        "invalid_request",
      );
    }
    const who = opts.tokens.identify(token);
    if (who === undefined) {
      return unauthorized(
        reply,
        `the bearer token is not known (mistyped, or revoked); ${route} ${needs}`,
        "invalid_token",
      );
    }
    // A client key is for flag evaluation on the OFREP listener only: it ships inside apps and
    // web pages, so it reads nothing here.
    if (who.role === "client")
      return sendProblem(
        reply,
        problem(
          403,
          "AVIARY_FORBIDDEN",
          `${route} is not for client keys; the token '${who.name}' has the client role (flag evaluation on the OFREP listener only)`,
        ),
      );
    // A router's token is for the fleet routes only: stolen from a router host, it reads no
    // rollout and changes nothing.
    if (who.role === "router" && access !== "router")
      return sendProblem(
        reply,
        problem(
          403,
          "AVIARY_FORBIDDEN",
          `${route} is not for routers; the token '${who.name}' has the router role (fleet state and reports only)`,
        ),
      );
    if (access === "router" && who.role === "read-only")
      return sendProblem(
        reply,
        problem(
          403,
          "AVIARY_FORBIDDEN",
          `${route} needs a router or operator token; the token '${who.name}' has the read-only role`,
        ),
      );
    if (access === "operator" && who.role !== "operator") {
      return sendProblem(
        reply,
        problem(
          403,
          "AVIARY_FORBIDDEN",
          `${route} needs the operator role; the token '${who.name}' has the ${who.role} role`,
        ),
      );
    }
    identities.set(req, who);
  });
}

function accessOf(req: FastifyRequest): Access {
  if (req.is404) return pathOf(req.url).startsWith("/api/") ? methodAccess(req.method) : "public";
  return effectiveAccess(req.method, (req.routeOptions.config as AccessConfig).access);
}

function pathOf(url: string): string {
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}

function unauthorized(reply: FastifyReply, detail: string, error?: string): FastifyReply {
  reply.header(
    "www-authenticate",
    `Bearer realm="aviary"${error === undefined ? "" : `, error="${error}"`}`,
  );
  return sendProblem(reply, problem(401, "AVIARY_UNAUTHORIZED", detail));
}
