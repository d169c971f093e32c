/**
 * The web dashboard on the admin address: the bundle `scripts/build-dashboard.mjs` writes to
 * `dist/dashboard` (index.html, app.js, app.css, favicon.svg), served under `/dashboard/` with
 * `/` redirecting there. The files are public (they hold no data; every read and command the
 * page makes needs a token), so the routes say so to the auth hook, and only those four names
 * are served: tsc compiles this very module into the same folder.
 *
 * Every answer carries a strict Content-Security-Policy (scripts, styles, images and
 * connections from this origin only; no inline script or style, no framing, Trusted Types for
 * DOM sinks), `nosniff` and `no-referrer`. index.html is revalidated on every load; it names
 * each bundle with a content hash (`app.js?v=<hash>`), and a request carrying that hash may
 * be cached for good. Without a built bundle the routes answer 503, saying how to build it.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AccessConfig } from "../api/auth.js";
import { problem, sendProblem } from "../api/problem.js";

/** Where the dashboard lives on the admin server. */
export const DASHBOARD_PATH = "/dashboard/";

/** The files of the bundle, the only ones served. */
const FILES: ReadonlySet<string> = new Set(["index.html", "app.js", "app.css", "favicon.svg"]);

/** The routes this module adds, all public (for the auth tests' list of public routes). */
export const DASHBOARD_ROUTES: readonly string[] = [
  "GET /",
  "GET /dashboard",
  "GET /dashboard/",
  "GET /dashboard/:file",
];

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  // uPlot and the page set styles through the CSSOM only, which style-src does not restrict.
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
].join("; ");

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/** A bundle hash as index.html writes it (`?v=` on app.js and app.css). */
const VERSION = /^[0-9a-f]{16}$/;

/** `dist/dashboard` of this installation, from `src/dashboard` (tsx) or `dist/dashboard` alike. */
export function defaultDashboardDir(): string {
  return fileURLToPath(new URL("../../dist/dashboard/", import.meta.url));
}

export interface DashboardOptions {
  /** The built bundle's folder. */
  dir: string;
}

/** Adds the dashboard's routes to the admin server (an encapsulated plugin: its headers stay its own). */
export function registerDashboard(app: FastifyInstance, opts: DashboardOptions): void {
  const config: AccessConfig = { access: "public" };
  const built = () => existsSync(join(opts.dir, "index.html"));
  app.register(async (scope) => {
    await scope.register(fastifyStatic, { serve: false });
    scope.addHook("onSend", async (_req, reply, payload) => {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
      return payload;
    });
    if (!built()) {
      app.log.warn(
        { dir: opts.dir },
        "the dashboard is not built: /dashboard/ answers 503 until `npm run build` has run",
      );
    }

    const toDashboard = (_req: FastifyRequest, reply: FastifyReply) =>
      reply.header("cache-control", "no-cache").redirect(DASHBOARD_PATH, 302);
    scope.get("/", { config }, toDashboard);
    scope.get("/dashboard", { config }, toDashboard);
    scope.get("/dashboard/", { config }, (req, reply) => serve(req, reply, "index.html"));
    scope.get<{ Params: { file: string } }>("/dashboard/:file", { config }, (req, reply) =>
      serve(req, reply, req.params.file),
    );
  });

  function serve(req: FastifyRequest, reply: FastifyReply, file: string): FastifyReply {
    if (!built()) {
      reply.header("cache-control", "no-store");
      return sendProblem(
        reply,
        problem(
          503,
          "AVIARY_DASHBOARD_NOT_BUILT",
          "the web dashboard has not been built: run `npm run build` in Aviary's source tree (it bundles src/dashboard/web into dist/dashboard), then reload",
        ),
      );
    }
    if (!FILES.has(file) || !existsSync(join(opts.dir, file))) {
      return sendProblem(
        reply,
        problem(404, "AVIARY_NOT_FOUND", `the dashboard has no file ${file}`),
      );
    }
    const version = (req.query as Record<string, unknown>).v;
    const cached = file !== "index.html" && typeof version === "string" && VERSION.test(version);
    reply.header("cache-control", cached ? "public, max-age=31536000, immutable" : "no-cache");
    return reply.sendFile(file, opts.dir, { cacheControl: false });
  }
}
