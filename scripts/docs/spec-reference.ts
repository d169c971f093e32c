/**
 * `docs/spec-reference.md`, from the spec's JSON Schema (`specJsonSchema()`, the same document
 * `aviary schema` prints): one table per object in the spec, one list per "exactly one key"
 * union, grouped into the page's major sections, each section with a short example that is a
 * valid spec (checked here, and again by the docs test).
 *
 * Every word a table shows comes from the schema: field names, types, defaults, limits and the
 * `.describe()` texts in `src/spec/`. What lives here is only the page's frame: the intro, the
 * grouping and the examples.
 *
 * @module
 */

import { z } from "zod";
import * as flagConditions from "../../src/flags/conditions.js";
import * as flags from "../../src/flags/schema.js";
import * as analysis from "../../src/spec/analysis.js";
import { specJsonSchema } from "../../src/spec/json-schema.js";
import { parseSpec } from "../../src/spec/load.js";
import * as notify from "../../src/spec/notify.js";
import * as parts from "../../src/spec/schema-parts.js";
import * as strategy from "../../src/spec/strategy.js";
import { Anchors, code, generatedBanner, page, table } from "./markdown.js";
import {
  allowedText,
  defaultText,
  isFieldObject,
  isKeyedUnion,
  isMap,
  isObject,
  type JsonSchema,
  propertiesOf,
  requiredOf,
  scalarType,
  shapeKey,
  variantsOf,
} from "./schema-text.js";

/** The page's major sections, in order; `owns` decides which schema paths each one shows. */
interface Major {
  title: string;
  intro: string;
  /** A complete spec showing the section's fields; must validate. */
  example: string;
  owns(path: string): boolean;
}

const MAJORS: Major[] = [
  {
    title: "Top level",
    intro:
      "A spec is one YAML file. Everything has a default except the services themselves, so the smallest useful spec is one service with a match and a stable version.",
    example: `listen: 0.0.0.0:8080
admin: 127.0.0.1:9900
services:
  - name: checkout
    match: { pathPrefix: /checkout }
    stable: { version: v1.2.0, targets: [http://127.0.0.1:9001] }`,
    owns: (p) => p === "",
  },
  {
    title: "Services and routing",
    intro:
      "A service is reached through a host and/or path prefix and has a stable version and, while a canary is on trial, a canary version. Without a strategy, `weight` is a fixed split; match routes send chosen requests to one version whatever the weight.",
    example: `services:
  - name: checkout
    match: { host: shop.example.com, pathPrefix: /checkout }
    stable: { version: v1.2.0, targets: [http://10.0.0.5:9001, http://10.0.0.6:9001] }
    canary: { version: v1.3.0, targets: [http://10.0.0.7:9001] }
    weight: 10
    stickiness: { cookie: shop-user, setCookie: true }
    routes:
      - match: { headers: { user-type: { exact: beta-tester } } }
        to: canary
    mirror: { percent: 5 }
    timeouts: { response: 10s }
    outlierDetection: { consecutiveFailures: 3, countServerErrors: true }
    healthCheck: { path: /healthz, interval: 5s }`,
    owns: (p) => p.startsWith("services") && !p.startsWith("services[].strategy"),
  },
  {
    title: "Rollout strategy",
    intro:
      "A strategy turns a new canary into a rollout: the steps it walks, the analyses that must pass, and what happens at the end. A service with a strategy leaves `weight` to the rollout.",
    example: `services:
  - name: checkout
    match: { pathPrefix: /checkout }
    stable: { version: v1.2.0, targets: [http://127.0.0.1:9001] }
    strategy:
      steps:
        - setHeaderRoute:
            name: beta-testers
            match: { headers: { user-type: { exact: beta-tester } } }
        - setWeight: 5
        - pause: { duration: 10m }
        - analysis: { templates: [golden-signals] }
        - setWeight: 25
        - pause: {}
        - setWeight: 50
      analysis: { templates: [golden-signals], startingStep: 1 }
      progressDeadline: 10m
      promotion: { hold: 5m }
analysisTemplates:
  - name: golden-signals
    metrics:
      - name: error-rate
        interval: 10s
        count: 30
        provider: { builtin: { signal: errorRate } }`,
    owns: (p) => p.startsWith("services[].strategy") && !p.startsWith("services[].strategy.gates"),
  },
  {
    title: "Gates",
    intro:
      "A gate holds a rollout at one point until a hook answers 2xx or an operator opens it (`aviary gate open SERVICE GATE`, or `POST /api/v1/services/{name}/gates/{gate}/open`). Calls are signed like notifications when the gate has a `secret` (see [operations](operations.md#verifying-signatures)).",
    example: `services:
  - name: checkout
    match: { pathPrefix: /checkout }
    stable: { version: v1.2.0, targets: [http://127.0.0.1:9001] }
    strategy:
      steps:
        - setWeight: 10
        - setWeight: 50
      gates:
        - name: change-window
          type: confirm-rollout
          url: https://deploy-bot.example.com/gates/change-window
          secret: { env: AVIARY_GATE_KEY }
          metadata: { team: payments }
        - name: load-test
          type: pre-rollout
          url: https://loadtest.example.com/run
          timeout: 5m
        - name: release-manager
          type: confirm-promotion`,
    owns: (p) => p.startsWith("services[].strategy.gates"),
  },
  {
    title: "Analysis templates",
    intro:
      "An analysis template is a named set of metrics; each metric has a provider (where its numbers come from) and a judge (how canary and stable are compared). See the [analysis guide](analysis.md) for which judge to use when.",
    example: `analysisTemplates:
  - name: golden-signals
    metrics:
      - name: error-rate
        interval: 10s
        provider: { builtin: { signal: errorRate } }
      - name: latency-p99
        interval: 10s
        count: 30
        provider: { builtin: { signal: latencyP99 } }
        judge: { relative: { maxRatio: 1.5 } }
  - name: checkout-errors
    args: [{ name: job, value: checkout }]
    metrics:
      - name: http-5xx
        interval: 1m
        count: 30
        provider:
          prometheus:
            address: http://127.0.0.1:9090
            step: 1m
            query: sum(rate(http_requests_total{job="{{args.job}}",version="{{canaryVersion}}",code=~"5.."}[1m]))
            stableQuery: sum(rate(http_requests_total{job="{{args.job}}",version="{{stableVersion}}",code=~"5.."}[1m]))
        judge: { mannWhitney: { direction: increase } }
      - name: slo
        interval: 1m
        count: 10
        provider:
          web:
            url: https://slo.example.com/api/error-budget?service={{service}}
            jsonPath: $.burnRate
        judge: { threshold: { failureCondition: result > 2.0 } }`,
    owns: (p) => p.startsWith("analysisTemplates"),
  },
  {
    title: "Notifications (webhooks)",
    intro:
      "Notifications are webhooks told about rollout events as they happen: Aviary's signed JSON, or a Slack, Microsoft Teams or Discord incoming-webhook message. A chat webhook's URL is itself a secret, so it is named by environment variable or file, never written in the spec.",
    example: `notifications:
  - name: deploy-log
    url: https://hooks.example.com/aviary
    secret: { env: AVIARY_WEBHOOK_KEY }
  - name: team-chat
    format: slack
    urlFrom: { file: /etc/aviary/slack-webhook-url }
    events: [rollout.started, analysis.failed, aborted, promoted]
    services: [checkout]`,
    owns: (p) => p.startsWith("notifications"),
  },
  {
    title: "Admin API access",
    intro:
      "The admin API needs a bearer token: the operator token (`AVIARY_TOKEN` or the data directory's `operator-token`) or one from the tokens file that `aviary token create` writes. See [operations](operations.md#tokens).",
    example: `auth:
  anonymousRead: false
  tokensFile: tokens
services: []`,
    owns: (p) => p.startsWith("auth"),
  },
  {
    title: "Proxy, metrics and controller settings",
    intro:
      "Process-wide settings of the data plane, its per-version metrics and the rollout controller. They are read when Aviary starts; a reload (SIGHUP, `aviary apply`) changes services and analysis templates only.",
    example: `proxy:
  maxHeaderSize: 32768
  connectionsPerTarget: 256
  drainTimeout: 10s
metrics:
  window: 30m
controller:
  tick: 2s
services: []`,
    owns: (p) => /^(proxy|metrics|controller)(\.|$)/.test(p),
  },
  {
    title: "Data plane",
    intro:
      "Which engine carries the users' requests. The embedded router needs nothing; HAProxy and nginx are driven at run time (see [data planes](dataplanes.md)), and their access logs come back over syslog so the analysis judges what the engine served. Read when Aviary starts.",
    example: `dataplane:
  engine: haproxy
  haproxy:
    runtimeApi: unix:/run/haproxy/admin.sock
    mapsDir: /etc/haproxy/aviary
  logs:
    listen: udp://127.0.0.1:5514
services: []`,
    owns: (p) => /^dataplane(\.|$)/.test(p),
  },
  {
    title: "Feature flags",
    intro:
      "Flags with typed variants, targeting rules tried in order and a percentage rollout of one variant for everyone else, bucketed as services are, served to OpenFeature SDKs over OFREP when `ofrep.listen` is set. See [feature flags](feature-flags.md) for how they are evaluated.",
    example: `ofrep:
  listen: 0.0.0.0:8016
flags:
  - key: new-checkout
    type: boolean
    variants: { on: true, off: false }
    defaultVariant: off
    rules:
      - name: beta testers first
        when: [{ attribute: user-type, equals: beta-tester }]
        variant: on
      - when: [{ attribute: appVersion, semverLt: 2.0.0 }]
        variant: off
    rollout: { variant: on, percent: 5 }
services: []`,
    owns: (p) => /^(flags(\[|\.|$)|ofrep(\.|$))/.test(p),
  },
];

interface Section {
  kind: "object" | "union";
  /** Where it first appears. */
  path: string;
  /** A shape used in several places has a title (`.meta({ title })`) and is shown once. */
  title: string | undefined;
  schema: JsonSchema;
  usedAt: string[];
  rows: string[][];
}

/**
 * The descriptions of the titled building blocks as defined, before a use site's own
 * `.describe()` replaced them in the JSON Schema: title → description.
 */
function titledDescriptions(): Map<string, string> {
  const out = new Map<string, string>();
  for (const mod of [parts, notify, strategy, analysis, flags, flagConditions]) {
    for (const value of Object.values(mod)) {
      if (!(value instanceof z.ZodType)) continue;
      const meta = z.globalRegistry.get(value);
      if (typeof meta?.title === "string") out.set(meta.title, meta.description ?? "");
    }
  }
  return out;
}

/** Walks the schema depth first, one section per object or keyed union, shared shapes once. */
class Walker {
  readonly sections: Section[] = [];
  readonly #byShape = new Map<string, Section>();
  readonly #anchors = new Map<Section, string>();

  constructor(
    private readonly anchors: Anchors,
    private readonly titled: ReadonlyMap<string, string>,
  ) {}

  anchorOf(section: Section): string {
    const a = this.#anchors.get(section);
    if (a === undefined) throw new Error(`no anchor for ${section.path}`);
    return a;
  }

  /** The type words for a field at `path`, registering sections for what it contains. */
  typeOf(s: JsonSchema, path: string): string {
    if (isKeyedUnion(s)) return `one of ${this.#link(this.#section("union", s, path))}`;
    const variants = variantsOf(s);
    if (variants !== undefined)
      return variants.map((v, i) => this.typeOf(v, `${path}(${i + 1})`)).join(" or ");
    if (s.type === "array" && isObject(s.items))
      return `list of ${this.typeOf(s.items, `${path}[]`)}`;
    if (isFieldObject(s)) return `object ${this.#link(this.#section("object", s, path))}`;
    if (isMap(s)) {
      const value = this.typeOf(s.additionalProperties as JsonSchema, `${path}.<name>`);
      return `map of name → ${value}`;
    }
    return scalarType(s);
  }

  #link(section: Section): string {
    const name = section.title ?? code(section.path || "top level");
    return `([${name}](#${this.anchorOf(section)}))`;
  }

  #section(kind: Section["kind"], s: JsonSchema, path: string): Section {
    const key = `${kind}:${shapeKey(s)}`;
    const seen = this.#byShape.get(key);
    if (seen !== undefined) {
      if (seen.title === undefined)
        throw new Error(
          `${seen.path} and ${path} have the same shape: give the shared schema a title (.meta({ title, description })) so the reference can show it once under its name`,
        );
      seen.usedAt.push(path);
      return seen;
    }
    const title = typeof s.title === "string" ? s.title : undefined;
    if (title !== undefined && !this.titled.has(title))
      throw new Error(
        `${path}: the titled schema "${title}" is not exported from src/spec (schema-parts, notify, strategy or analysis) or src/flags (schema, conditions), so its own description cannot be found`,
      );
    const section: Section = { kind, path, title, schema: s, usedAt: [path], rows: [] };
    this.#byShape.set(key, section);
    this.sections.push(section);
    this.#anchors.set(section, this.anchors.take(title ?? headingOf(path)));
    section.rows = kind === "object" ? this.#fieldRows(s, path) : this.#variantRows(s, path);
    return section;
  }

  #fieldRows(s: JsonSchema, path: string): string[][] {
    const required = requiredOf(s);
    return Object.entries(propertiesOf(s)).map(([name, prop]) => {
      const at = path === "" ? name : `${path}.${name}`;
      return [
        code(name),
        this.typeOf(prop, at),
        required.has(name) ? "yes" : "",
        defaultText(prop),
        allowedText(prop),
        describe(prop),
      ];
    });
  }

  #variantRows(s: JsonSchema, path: string): string[][] {
    return (variantsOf(s) ?? []).map((variant) => {
      const [name, value] = Object.entries(propertiesOf(variant))[0] as [string, JsonSchema];
      return [
        code(name),
        this.typeOf(value, `${path}.${name}`),
        defaultText(value),
        allowedText(value),
        describe(variant) || describe(value),
      ];
    });
  }
}

function describe(s: JsonSchema): string {
  return typeof s.description === "string" ? s.description : "";
}

function headingOf(path: string): string {
  return path === "" ? "The spec file" : path;
}

function renderSection(section: Section, titled: ReadonlyMap<string, string>): string {
  const heading = `### ${section.title ?? (section.path === "" ? "The spec file" : code(section.path))}`;
  const about = section.title !== undefined ? titled.get(section.title) : describe(section.schema);
  const also =
    section.title !== undefined ? `Used at ${section.usedAt.map((p) => code(p)).join(", ")}.` : "";
  const body =
    section.kind === "object"
      ? table(["field", "type", "required", "default", "allowed", "description"], section.rows)
      : [
          "Exactly one of these keys:",
          table(["key", "value", "default", "allowed", "description"], section.rows),
        ].join("\n\n");
  return [heading, about, also, body].filter(Boolean).join("\n\n");
}

/** The whole page. Throws when an example does not validate or a schema path has no section. */
export function specReference(): string {
  // The document's own title names the Aviary version; the page does not need it.
  const { title: _title, ...schema } = specJsonSchema();
  const anchors = new Anchors();
  anchors.take("Spec reference");
  anchors.take("Conventions");
  const majorAnchors = MAJORS.map((m) => anchors.take(m.title));
  const titled = titledDescriptions();
  const walker = new Walker(anchors, titled);
  walker.typeOf(schema, "");

  const byMajor = new Map<Major, Section[]>(MAJORS.map((m) => [m, []]));
  for (const section of walker.sections) {
    const major = MAJORS.find((m) => m.owns(section.path));
    if (major === undefined)
      throw new Error(
        `spec path ${section.path} belongs to no section of the reference: add it to MAJORS in scripts/docs/spec-reference.ts`,
      );
    byMajor.get(major)?.push(section);
  }

  const blocks: string[] = [
    generatedBanner("the spec's schema in `src/spec/`"),
    "# Spec reference",
    "Every field of an Aviary spec: its type, whether it is required, its default, the values it accepts and what it does. It is generated from the schema Aviary validates with, so it says what the code does. `aviary schema` prints the same schema as JSON Schema for your editor, and `aviary validate -f FILE` lists every problem of a file with `file:line:column` and the field's path.",
    MAJORS.map((m, i) => `- [${m.title}](#${majorAnchors[i]})`).join("\n"),
    "## Conventions",
    [
      "- A path such as `services[].strategy.steps[]` names one item of a list; `<name>` is a key you choose (a header name, say).",
      "- Unknown fields are errors, so a typo never goes unnoticed.",
      "- A field with a default may be left out. An object whose fields all have defaults may be left out too (`proxy`, `timeouts`, `promotion`, ...).",
      "- `duration`: a number and a unit (`ms`, `s`, `m`, `h`, `d`), e.g. `500ms`, `10s`, `1h30m`. `address`: `HOST:PORT`, e.g. `127.0.0.1:9900` or `[::1]:9900`.",
      '- "Exactly one of these keys": the object has one key, which says what it is (`setWeight: 5`, `pause: {}`).',
      "- Cross-field rules (a weight above 0 needs a canary, a template a strategy names must exist, ...) are checked too; `aviary validate` reports them at the field they concern.",
    ].join("\n"),
  ];
  for (const major of MAJORS) {
    try {
      parseSpec(major.example, `example of ${major.title}`);
    } catch (err) {
      throw new Error(
        `the ${major.title} example in scripts/docs/spec-reference.ts: ${String(err)}`,
      );
    }
    blocks.push(`## ${major.title}`, major.intro, `\`\`\`yaml\n${major.example}\n\`\`\``);
    for (const section of byMajor.get(major) ?? []) blocks.push(renderSection(section, titled));
  }
  return page(blocks);
}
