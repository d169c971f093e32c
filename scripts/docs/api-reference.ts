/**
 * `docs/api.md`, from the admin API's OpenAPI document (`openApiDocument()` over the route
 * table `adminRoutes()` builds): every route with its method, path, role, parameters, body and
 * answers; the auth model; the problem+json errors with their codes; the event stream.
 *
 * The error codes are the one part the OpenAPI document does not carry: their meanings are
 * written here, and the generator refuses to run when the code base throws a code this list
 * does not explain, or explains one nobody throws any more.
 *
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { openApiDocument } from "../../src/api/openapi.js";
import { problemOf } from "../../src/api/problem.js";
import { type AdminOptions, adminRoutes } from "../../src/api/server.js";
import type { EventStreams } from "../../src/api/stream.js";
import { AviaryError } from "../../src/errors.js";
import { MetricsSettings } from "../../src/spec/schema.js";
import { parseDuration } from "../../src/util/duration.js";
import { Anchors, code, generatedBanner, page, table } from "./markdown.js";
import {
  allowedText,
  defaultText,
  isObject,
  type JsonSchema,
  propertiesOf,
  requiredOf,
  scalarType,
} from "./schema-text.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The codes an API client can get, and what each means. A code that does not come from an
 * `AviaryError` of that code names the error it does come from (`from`: one of Fastify's own
 * refusals, or any unexpected error): the status shown is `problemOf`'s answer either way, so it
 * cannot drift from what the server sends.
 */
const CODES: Record<string, string | { meaning: string; from: unknown }> = {
  AVIARY_BAD_REQUEST:
    "A path parameter, query parameter or body field is invalid; `detail` names each one (`params.name`, `query.window`, `body.targets[0]`).",
  AVIARY_SPEC_INVALID:
    "The spec sent to `POST /api/v1/apply` is invalid; `problems` lists every problem with file, line, column and field path.",
  AVIARY_UNAUTHORIZED: "No token, or one that is not known. Comes with `WWW-Authenticate: Bearer`.",
  AVIARY_FORBIDDEN: "The token's role may not do this: a read-only token on a change.",
  AVIARY_NOT_FOUND: "No such route.",
  AVIARY_UNKNOWN_SERVICE: "No service of that name in the applied spec.",
  AVIARY_NO_ROLLOUT: "The service has no rollout yet, or no rollout has that id.",
  AVIARY_BODY_TOO_LARGE: {
    meaning: "The body is larger than 1 MiB.",
    from: { code: "FST_ERR_CTP_BODY_TOO_LARGE" },
  },
  AVIARY_UNSUPPORTED_MEDIA_TYPE: {
    meaning:
      "The body is not sent as `application/json` (or `application/*+json`) in UTF-8, or has no Content-Type.",
    from: { code: "FST_ERR_CTP_INVALID_MEDIA_TYPE" },
  },
  AVIARY_URI_TOO_LONG: {
    meaning: "A path segment is longer than 200 characters.",
    from: { code: "FST_ERR_MAX_PARAM_LENGTH" },
  },
  AVIARY_ROLLOUT_FINISHED:
    "The command needs an active rollout and this one is Healthy or Aborted; `detail` says whether undo or retry applies.",
  AVIARY_AT_GATE:
    "The rollout waits at a gate or a manual pause: open the gate or promote, as `detail` says.",
  AVIARY_NOT_PAUSED: "resume, but the rollout is not paused.",
  AVIARY_NOT_ABORTED: "retry, but the rollout is not aborted.",
  AVIARY_UNKNOWN_GATE: "The rollout's strategy has no gate of that name; `detail` lists its gates.",
  AVIARY_GATE_NOT_WAITING: "The rollout does not wait at that gate; `detail` says where it waits.",
  AVIARY_ROLLOUT_ACTIVE: "undo while a rollout is in progress: abort it first.",
  AVIARY_NOTHING_TO_UNDO: "undo, but there is no previous stable version to go back to.",
  AVIARY_FLAG_DEPLOY: "deploy to a flag (`flag:<key>`): its spec names the variant it rolls out.",
  AVIARY_NO_STRATEGY: "deploy to a service whose spec has no strategy.",
  AVIARY_SAME_VERSION: "deploy of the version that is already stable.",
  AVIARY_STORE_STALE_WRITE: "A concurrent change to the same rollout won; read it again and retry.",
  AVIARY_STORE_FENCED:
    "The instance lost the lead while carrying the command out (another instance leads now); nothing was written: send it again.",
  AVIARY_STORE_UNAVAILABLE:
    "The database (Postgres) is down, out of reach or did not answer within the store's deadline (5 s by default); `detail` names it by host:port and database and the operation. Ask again, here or at another instance.",
  AVIARY_TOO_MANY_STREAMS:
    "100 event streams are open already, or the server is shutting down; retry later.",
  AVIARY_TOO_MANY_STREAMS_FOR_TOKEN:
    "The token (or, under `auth.anonymousRead`, the address) holds 10 event streams already: close one first.",
  AVIARY_INTERNAL: {
    meaning:
      "An unexpected failure. `detail` says only to see the server log, which has the error.",
    from: new Error("anything unexpected"),
  },
};

/**
 * Where codes that reach API clients are thrown, and the codes there that never do (with why),
 * so a new code in these files must be explained above before the docs build.
 */
const CODE_SOURCES = [
  "src/api",
  "src/rollout",
  "src/store/errors.ts",
  "src/store/postgres/errors.ts",
  "src/spec/load.ts",
];
const NOT_API_CODES: Record<string, string> = {
  AVIARY_TOKEN: "an environment variable's name, not an error code",
  AVIARY_TOKENS_INVALID: "the tokens file, read by the CLI and at start-up",
  AVIARY_TOKENS_UNREADABLE: "the tokens file, read by the CLI and at start-up",
  AVIARY_TOKENS_LOCKED: "the tokens file, edited by the CLI",
  AVIARY_STORE_OPEN: "opening the database, before the API listens",
  AVIARY_STORE_SCHEMA_TOO_NEW: "opening the database, before the API listens",
  AVIARY_STORE_NOT_AVIARY: "opening the database, before the API listens",
  AVIARY_STORE_UNKNOWN_RUN: "an internal consistency check of the analysis runner",
  AVIARY_SPEC_UNREADABLE: "reading a spec file from disk; the API takes the spec's text",
  AVIARY_STORE_NESTED: "a programming error inside the server: a transaction opened inside another",
  AVIARY_STORE_COMMAND_COMMITTED:
    "a stored command committed a second time: refused by the store, and the leader answers from the first commit",
};

/** Every `"AVIARY_..."` literal in the code that serves the API (tests excluded). */
function thrownCodes(): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (path: string) => {
    const abs = join(ROOT, path);
    if (!path.endsWith(".ts")) {
      for (const entry of readdirSync(abs, { withFileTypes: true })) {
        if (entry.isDirectory() || (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")))
          visit(join(path, entry.name));
      }
      return;
    }
    if (path.endsWith("test-harness.ts")) return;
    for (const m of readFileSync(abs, "utf8").matchAll(/"(AVIARY_[A-Z_]+)"/g)) {
      const c = m[1] as string;
      if (!found.has(c)) found.set(c, relative(ROOT, abs));
    }
  };
  for (const source of CODE_SOURCES) visit(source);
  return found;
}

function checkCodes(): void {
  const thrown = thrownCodes();
  const problems: string[] = [];
  for (const [c, file] of thrown) {
    if (!(c in CODES) && !(c in NOT_API_CODES))
      problems.push(`${c} (thrown in ${file}) is not explained in CODES or NOT_API_CODES`);
  }
  for (const c of [...Object.keys(CODES), ...Object.keys(NOT_API_CODES)]) {
    if (!thrown.has(c)) problems.push(`${c} is explained but no longer appears in the code`);
  }
  if (problems.length > 0) throw new Error(`scripts/docs/api-reference.ts: ${problems.join("; ")}`);
}

type Operation = JsonSchema & {
  summary: string;
  description: string;
  tags: string[];
  "x-aviary-role": string;
  parameters?: JsonSchema[];
  requestBody?: { required: boolean; content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { description: string; content?: Record<string, unknown> }>;
};

/**
 * The route table with nothing behind it: building a route only records closures, so options
 * that throw when touched prove the document needs no running server (and say so if that
 * ever changes).
 */
function apiDocument(): JsonSchema {
  const untouchable = (what: string) =>
    new Proxy(
      {},
      {
        get(_t, key) {
          throw new Error(
            `building the route table touched ${what}.${String(key)}; scripts/docs/api-reference.ts builds it without a server`,
          );
        },
      },
    );
  const window = parseDuration(MetricsSettings.parse({}).window) as number;
  const opts = {
    metrics: untouchable("metrics"),
    metricsWindowMs: window,
    controller: untouchable("controller"),
    store: untouchable("store"),
    hub: untouchable("hub"),
    tokens: untouchable("tokens"),
    anonymousRead: false,
    clock: untouchable("clock"),
    log: untouchable("log"),
    // The fleet's routes are served with dataplane.engine: fleet only; documented all the same.
    fleet: untouchable("fleet"),
  } as unknown as AdminOptions;
  return openApiDocument(adminRoutes(opts, untouchable("streams") as EventStreams));
}

/** A field's type in a word or two; nested objects are named, not expanded (bodies are flat). */
function typeWords(s: JsonSchema): string {
  if (s.type === "array" && isObject(s.items)) return `list of ${typeWords(s.items)}`;
  if (s.type === "object") return "object";
  return scalarType(s);
}

function fieldRows(s: JsonSchema): string[][] {
  const required = requiredOf(s);
  return Object.entries(propertiesOf(s)).map(([name, prop]) => [
    code(name),
    typeWords(prop),
    required.has(name) ? "yes" : "",
    defaultText(prop),
    allowedText(prop),
    typeof prop.description === "string" ? prop.description : "",
  ]);
}

function parameterRows(params: readonly JsonSchema[]): string[][] {
  return params.map((p) => {
    const schema = (isObject(p.schema) ? p.schema : {}) as JsonSchema;
    return [
      code(String(p.name)),
      String(p.in),
      p.required === true ? "yes" : "",
      typeWords(schema),
      defaultText(schema),
      allowedText(schema),
      typeof p.description === "string" ? p.description : "",
    ];
  });
}

/** The operation's own description, without the role sentence the document appends. */
function ownDescription(op: Operation): string {
  return op.description
    .split("\n\n")
    .filter((p) => !/^(Public: no token needed\.|Needs a token)/.test(p))
    .join("\n\n");
}

const ROLE_WORDS: Record<string, string> = {
  public: "public (no token)",
  "read-only": "read-only (any token)",
  operator: "operator",
  router: "router (an `aviary router`'s token) or operator",
};

function roleWords(role: string): string {
  const words = ROLE_WORDS[role];
  if (words === undefined) throw new Error(`unknown role ${role} in the OpenAPI document`);
  return words;
}

function routeSection(method: string, path: string, op: Operation): string {
  const params = op.parameters ?? [];
  const body = op.requestBody?.content["application/json"]?.schema;
  const responses = Object.entries(op.responses).map(([status, r]) => [
    status === "default" ? "other" : status,
    Object.keys(r.content ?? {}).join(", "),
    r.description,
  ]);
  return [
    `### ${code(`${method} ${path}`)}`,
    `**${op.summary}.** ${ownDescription(op)}`.trim(),
    `Role: ${roleWords(op["x-aviary-role"])}.`,
    params.length > 0
      ? table(
          ["parameter", "in", "required", "type", "default", "allowed", "description"],
          parameterRows(params),
        )
      : "",
    body !== undefined && Object.keys(propertiesOf(body)).length > 0
      ? `Body (\`application/json\`${op.requestBody?.required ? "" : ", optional"}):\n\n${table(["field", "type", "required", "default", "allowed", "description"], fieldRows(body))}`
      : body !== undefined
        ? "Body: none (send nothing or `{}`)."
        : "",
    table(["status", "content", "meaning"], responses),
  ]
    .filter(Boolean)
    .join("\n\n");
}

export function apiReference(): string {
  checkCodes();
  const doc = apiDocument();
  const info = doc.info as { title: string; version: string; description: string };
  const scheme = (doc.components as { securitySchemes: { bearer: { description: string } } })
    .securitySchemes.bearer;
  const problem = (doc.components as { schemas: { Problem: JsonSchema } }).schemas.Problem;
  const paths = doc.paths as Record<string, Record<string, Operation>>;
  const tags = (doc.tags as Array<{ name: string }>).map((t) => t.name);

  const ops: Array<{ method: string; path: string; op: Operation }> = [];
  for (const [path, byMethod] of Object.entries(paths))
    for (const [method, op] of Object.entries(byMethod))
      ops.push({ method: method.toUpperCase(), path, op });

  const anchors = new Anchors();
  for (const h of [
    "Admin API reference",
    "Authentication and roles",
    "Errors",
    "Error codes",
    "The event stream",
    "Routes",
  ])
    anchors.take(h);
  const tagTitle = (tag: string) => `${tag[0]?.toUpperCase() ?? ""}${tag.slice(1)}`;
  for (const tag of tags) anchors.take(tagTitle(tag));
  const anchorOf = new Map(ops.map((o) => [o, anchors.take(`${o.method} ${o.path}`)]));

  const stream = ops.find(
    (o) => o.op.responses["200"]?.content?.["text/event-stream"] !== undefined,
  );
  if (stream === undefined) throw new Error("the OpenAPI document has no text/event-stream route");

  const codeRows = Object.entries(CODES)
    .map(([c, entry]) => {
      const meaning = typeof entry === "string" ? entry : entry.meaning;
      const answer = problemOf(typeof entry === "string" ? new AviaryError(c, "") : entry.from);
      if (answer.code !== c)
        throw new Error(
          `scripts/docs/api-reference.ts: the error documented as ${c} is answered with ${answer.code}`,
        );
      return { c, status: answer.status, meaning };
    })
    .sort((a, b) => a.status - b.status || a.c.localeCompare(b.c))
    .map(({ c, status, meaning }) => [String(status), code(c), meaning]);

  const blocks: string[] = [
    generatedBanner(
      "the admin API's route table in `src/api/` (the document `GET /openapi.json` serves)",
    ),
    "# Admin API reference",
    `${info.description} The same document is served, public, at \`GET /openapi.json\` (OpenAPI 3.1): point a client generator at it. The admin server listens on the spec's \`admin\` address, loopback by default.`,
    "## Routes",
    table(
      ["method and path", "role", "summary"],
      ops.map((o) => [
        `[${code(`${o.method} ${o.path}`)}](#${anchorOf.get(o)})`,
        roleWords(o.op["x-aviary-role"]),
        o.op.summary,
      ]),
    ),
    "## Authentication and roles",
    `Send \`Authorization: Bearer <token>\`. ${scheme.description}`,
    [
      "- `read-only`: `GET` and `HEAD` under `/api/`.",
      "- `operator`: everything, including every `POST`. A route can only ask for more than its method needs, never less.",
      "- With `auth.anonymousRead: true` in the spec, reads under `/api/` need no token (a trusted network only); changes still need the operator.",
      "- `/healthz`, `/metrics` and `/openapi.json` are public.",
      "- Commands are recorded in the history with the actor `operator:<token name>`.",
    ].join("\n"),
    "A missing or unknown token is a 401 (`AVIARY_UNAUTHORIZED`), a read-only token on a change a 403 (`AVIARY_FORBIDDEN`). The check happens before the body is read and goes by the matched route, not the URL text. See [operations](operations.md#tokens) for creating and revoking tokens.",
    "## Errors",
    "Every error is an RFC 9457 problem, `Content-Type: application/problem+json`:",
    table(["field", "type", "required", "default", "allowed", "description"], fieldRows(problem)),
    "`code` is stable: branch on it, not on `detail`, which is meant for people. `type` is the same code as a URI (`urn:aviary:problem:unknown-service`), `title` the status's reason phrase. Refusals that happen before a route runs (a body that is not JSON, another content type) have codes of this table too.",
    `\`\`\`json\n${JSON.stringify(
      problemOf(new AviaryError("AVIARY_UNKNOWN_SERVICE", "no service named shop")),
      null,
      2,
    )}\n\`\`\``,
    "### Error codes",
    table(["status", "code", "meaning"], codeRows),
    "## The event stream",
    `${code(`${stream.method} ${stream.path}`)}: ${ownDescription(stream.op)}`,
    "Each message is one Server-Sent Events frame. These are from `aviary demo` (the measurement's `evidence` shortened):",
    [
      "```text",
      ": aviary event stream",
      "retry: 2000",
      "",
      "id: 5",
      "event: rollout-event",
      'data: {"seq":5,"rolloutId":"0mwrah88l-c5299ea5feb9","service":"shop","at":1795318831615,"type":"weight.set","actor":"controller","reason":"canary weight 0% → 5%","phase":"Progressing","stepIndex":1,"weight":5,"data":{"from":0,"to":5}}',
      "",
      "event: measurement",
      'data: {"service":"shop","rolloutId":"0mwrah88l-c5299ea5feb9","runId":"0mwrah88l-c5299ea5feb9:background:1","measurement":{"seq":1,"runId":"0mwrah88l-c5299ea5feb9:background:1","metric":"error-rate","phase":"Successful","value":1,"evidence":{"decision":"continue","eValue":1,"threshold":1000},"message":"canary errors 0/11 (0 %) vs stable 0/140 (0 %): e-value 1 < 1000 = 1/α; rate ratio ≤ ∞, not yet below 1.1; keep watching","startedAt":1795318833000,"finishedAt":1795318833617}}',
      "```",
    ].join("\n"),
    "`rollout-event` frames carry the history event's `seq` as their `id`; `measurement` frames have none, because measurements are not replayed.",
    "A line starting with `:` is a keep-alive comment; ignore it. To resume after a disconnect, reconnect with `Last-Event-ID: <last id>` (EventSource does it by itself) or `?after=<seq>`: the stored events after that seq come first, then the live ones, none missed and none twice. A client that falls more than 1 MiB behind is disconnected and should reconnect the same way.",
    "```sh\ncurl -N -H \"Authorization: Bearer $AVIARY_TOKEN\" 'http://127.0.0.1:9900/api/v1/stream?service=shop'\n```",
  ];
  for (const tag of tags) {
    blocks.push(`## ${tagTitle(tag)}`);
    for (const o of ops.filter((x) => x.op.tags[0] === tag))
      blocks.push(routeSection(o.method, o.path, o.op));
  }
  const unplaced = ops.filter((o) => !tags.includes(o.op.tags[0] ?? ""));
  if (unplaced.length > 0)
    throw new Error(
      `routes without a tag: ${unplaced.map((o) => `${o.method} ${o.path}`).join(", ")}`,
    );
  return page(blocks);
}
