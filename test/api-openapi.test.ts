/**
 * `/openapi.json`: an OpenAPI 3.1 document generated from the route table, public, and
 * complete: every route Fastify serves is in it with its method, role, parameters and request
 * body schema, and every reference resolves.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { z } from "zod";
import { openApiDocument } from "../src/api/openapi.js";
import { route } from "../src/api/route-table.js";
import { registeredRoutes } from "../src/api/server.js";
import { DASHBOARD_ROUTES } from "../src/dashboard/routes.js";
import { startAdmin, type TestAdmin } from "./admin-fixtures.js";

// biome-ignore lint/suspicious/noExplicitAny: the document is walked field by field
type Doc = any;

describe("the OpenAPI document", () => {
  let api: TestAdmin;
  let doc: Doc;

  before(async () => {
    api = await startAdmin();
    const res = await api.call("GET", "/openapi.json");
    assert.equal(res.status, 200, "public: no token needed");
    assert.match(res.contentType, /^application\/json/);
    doc = res.json;
  });
  after(() => api.close());

  it("is OpenAPI 3.1 with a bearer scheme and a problem+json component", () => {
    assert.equal(doc.openapi, "3.1.0");
    assert.equal(typeof doc.info.title, "string");
    assert.equal(typeof doc.info.version, "string");
    assert.deepEqual(doc.components.securitySchemes.bearer, {
      type: "http",
      scheme: "bearer",
      description: doc.components.securitySchemes.bearer.description,
    });
    assert.deepEqual(doc.components.schemas.Problem.required, [
      "type",
      "title",
      "status",
      "detail",
      "code",
    ]);
    assert.deepEqual(doc.security, [{ bearer: [] }]);
  });

  it("has every route Fastify serves, with its method and role", () => {
    // The dashboard's static files are not API routes (src/dashboard/routes.ts).
    const routes = registeredRoutes(api.aviary.admin).filter(
      (r) => !DASHBOARD_ROUTES.includes(`${r.method === "HEAD" ? "GET" : r.method} ${r.url}`),
    );
    assert.ok(routes.length > 20);
    for (const r of routes) {
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
      const ops = doc.paths[path];
      assert.ok(ops, `${r.url} is in the document`);
      // HEAD is the GET without a body: documented by the GET.
      const op = ops[r.method === "HEAD" ? "get" : r.method.toLowerCase()];
      assert.ok(op, `${r.method} ${r.url} is in the document`);
      assert.equal(op["x-aviary-role"], r.access, `${r.method} ${r.url} names its role`);
      if (r.access === "public") assert.deepEqual(op.security, []);
      else {
        assert.deepEqual(op.security, [{ bearer: [] }]);
        assert.match(op.description, /Needs a token/);
        assert.ok(op.responses["401"], `${r.method} ${r.url} documents 401`);
      }
      if (r.method === "POST") {
        assert.equal(r.access, "operator");
        assert.ok(op.responses["403"], `${r.method} ${r.url} documents 403`);
      }
      for (const name of r.url.match(/:([A-Za-z0-9_]+)/g) ?? []) {
        const p = op.parameters.find((x: Doc) => x.name === name.slice(1));
        assert.ok(p, `${r.url}: path parameter ${name}`);
        assert.equal(p.in, "path");
        assert.equal(p.required, true);
      }
    }
    const documented = Object.values(doc.paths).reduce(
      (n: number, ops) => n + Object.keys(ops as object).length,
      0,
    );
    const served = new Set(
      routes.filter((r) => r.method !== "HEAD").map((r) => `${r.method} ${r.url}`),
    );
    assert.equal(documented, served.size, "nothing documented that is not served");
  });

  it("describes request bodies and queries with the schemas that validate them", () => {
    const deploy = doc.paths["/api/v1/services/{name}/deploy"].post;
    const body = deploy.requestBody.content["application/json"].schema;
    assert.equal(deploy.requestBody.required, true);
    assert.equal(body.type, "object");
    assert.deepEqual(body.required, ["version", "targets"]);
    assert.equal(body.additionalProperties, false);
    assert.equal(body.properties.targets.type, "array");
    assert.equal(body.$schema, undefined);
    assert.ok(deploy.responses["201"]);

    const promote = doc.paths["/api/v1/services/{name}/promote"].post;
    assert.equal(promote.requestBody.required, false, "promote's body may be left out");
    assert.equal(
      promote.requestBody.content["application/json"].schema.properties.full.type,
      "boolean",
    );
    const apply = doc.paths["/api/v1/apply"].post.requestBody.content["application/json"].schema;
    assert.deepEqual(apply.required, ["spec"]);

    for (const [path, ops] of Object.entries(doc.paths)) {
      const post = (ops as Doc).post;
      if (post !== undefined)
        assert.ok(
          post.requestBody?.content["application/json"].schema,
          `${path} has a body schema`,
        );
    }

    const metrics = doc.paths["/api/v1/services/{name}/metrics"].get;
    const names = metrics.parameters.map((p: Doc) => `${p.in}:${p.name}`);
    assert.deepEqual(names.sort(), ["path:name", "query:step", "query:window"]);
    const window = metrics.parameters.find((p: Doc) => p.name === "window");
    assert.equal(window.required, false);
    assert.equal(window.schema.default, "5m");
    const stream = doc.paths["/api/v1/stream"].get;
    assert.ok(stream.responses["200"].content["text/event-stream"]);
  });

  it("resolves every $ref", () => {
    const refs: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          if (k === "$ref" && typeof x === "string") refs.push(x);
          else walk(x);
        }
      }
    };
    walk(doc);
    assert.ok(refs.length > 0);
    for (const ref of refs) {
      const target = ref
        .replace(/^#\//, "")
        .split("/")
        .reduce((node: Doc, key) => node?.[key], doc);
      assert.ok(target, `${ref} resolves`);
    }
  });

  it("documents a new table entry with no other change", () => {
    const gate = route({
      method: "POST",
      url: "/api/v1/services/:name/gates/:gate/open",
      summary: "Open a gate",
      tags: ["commands"],
      role: "operator",
      params: z.strictObject({ name: z.string(), gate: z.string() }),
      body: z.strictObject({}).prefault({}),
      response: { description: "`{ rollout }`" },
      handler: () => ({}),
    });
    const op = openApiDocument([gate]).paths as Doc;
    const open = op["/api/v1/services/{name}/gates/{gate}/open"].post;
    assert.equal(open["x-aviary-role"], "operator");
    assert.deepEqual(
      open.parameters.map((p: Doc) => p.name),
      ["name", "gate"],
    );
    assert.throws(
      () =>
        route({
          method: "POST",
          url: "/api/v1/x",
          summary: "x",
          tags: [],
          role: "read-only",
          response: { description: "x" },
          handler: () => ({}),
        }),
      /a route that changes state needs the operator role/,
    );
  });
});
