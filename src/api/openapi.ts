/**
 * The OpenAPI 3.1 document of the admin API, generated from the route table: the same zod
 * schemas that validate a request describe it (`z.toJSONSchema`, input side, so defaults and
 * optional fields read as a client sees them). Each operation names the role it needs in its
 * description and as `x-aviary-role`; errors share one problem+json component.
 *
 * @module
 */

import { z } from "zod";
import { VERSION } from "../version.js";
import type { ApiRoute } from "./route-table.js";

type Json = Record<string, unknown>;

const PROBLEM_SCHEMA: Json = {
  type: "object",
  description: "An RFC 9457 problem; `code` is stable, `detail` says what to do.",
  required: ["type", "title", "status", "detail", "code"],
  properties: {
    type: { type: "string" },
    title: { type: "string" },
    status: { type: "integer" },
    detail: { type: "string" },
    code: { type: "string", examples: ["AVIARY_BAD_REQUEST", "AVIARY_FORBIDDEN"] },
    problems: {
      type: "array",
      description: "Every problem of an invalid spec, with file, line, column and field path.",
      items: { type: "object" },
    },
  },
};

const problem = (description: string): Json => ({
  description,
  content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
});

const ROLE_TEXT: Record<ApiRoute["role"], string> = {
  public: "Public: no token needed.",
  "read-only": "Needs a token with the read-only or operator role (or `auth.anonymousRead`).",
  operator: "Needs a token with the operator role.",
  router: "Needs a token with the router role (an `aviary router`) or the operator role.",
};

export function openApiDocument(routes: readonly ApiRoute[]): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
    paths[path] ??= {};
    (paths[path] as Record<string, Json>)[r.method.toLowerCase()] = operation(r);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Aviary admin API",
      version: VERSION,
      description:
        "Services, rollouts, their history, per-version metrics and an event stream. Send `Authorization: Bearer <token>`: reads need any role, changes the operator role. `/healthz`, `/metrics` and `/openapi.json` are public.",
    },
    tags: [...new Set(routes.flatMap((r) => r.tags))].map((name) => ({ name })),
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description:
            "The operator token (AVIARY_TOKEN or the data directory's operator-token), or one from the tokens file (`aviary token create`).",
        },
      },
      schemas: { Problem: PROBLEM_SCHEMA },
    },
  };
}

function operation(r: ApiRoute): Json {
  const parameters = [...parametersOf(r.params, "path"), ...parametersOf(r.query, "query")];
  const responses: Json = {
    [String(r.response.status)]: {
      description: r.response.description,
      content: { [r.response.contentType]: { schema: {} } },
    },
  };
  if (r.params !== undefined || r.query !== undefined || r.body !== undefined)
    responses["400"] = problem("The request is invalid; `detail` names each field.");
  if (r.role !== "public") {
    responses["401"] = problem("No token, or one that is not known.");
    if (r.role === "operator") responses["403"] = problem("The token lacks the operator role.");
  }
  if (r.body !== undefined) responses["413"] = problem("The body is larger than 1 MiB.");
  responses.default = problem("Any other error (404 unknown resource, 409 conflict, 503).");
  const description = [r.description, ROLE_TEXT[r.role]].filter(Boolean).join("\n\n");
  return {
    operationId: operationId(r),
    summary: r.summary,
    description,
    tags: [...r.tags],
    "x-aviary-role": r.role,
    security: r.role === "public" ? [] : [{ bearer: [] }],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(r.body !== undefined
      ? {
          requestBody: {
            required: !r.body.safeParse({}).success,
            content: { "application/json": { schema: jsonSchema(r.body) } },
          },
        }
      : {}),
    responses,
  };
}

function parametersOf(schema: z.ZodType | undefined, where: "path" | "query"): Json[] {
  if (schema === undefined) return [];
  const s = jsonSchema(schema);
  const properties = (s.properties ?? {}) as Record<string, Json>;
  const required = new Set((s.required ?? []) as string[]);
  return Object.entries(properties).map(([name, prop]) => {
    const { description, ...rest } = prop;
    return {
      name,
      in: where,
      required: where === "path" || required.has(name),
      ...(description !== undefined ? { description } : {}),
      schema: rest,
    };
  });
}

function jsonSchema(schema: z.ZodType): Json {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    io: "input",
    unrepresentable: "any",
  }) as Json;
  return rest;
}

/** `POST /api/v1/services/:name/deploy` → `postServicesNameDeploy`. */
function operationId(r: ApiRoute): string {
  const words = r.url
    .replace(/^\/api\/v1\//, "/")
    .split(/[/:.-]+/)
    .filter(Boolean);
  return (
    r.method.toLowerCase() + words.map((w) => (w[0] ?? "").toUpperCase() + w.slice(1)).join("")
  );
}
