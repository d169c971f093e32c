/**
 * `aviary render nginx`: the http-level include that lets Aviary drive nginx at run time.
 *
 * What it holds: a `lua_shared_dict` with each service's state; the Lua (init, version choice,
 * balancer, log, control server) in `init_by_lua_block`; one upstream whose peer is chosen by
 * `balancer_by_lua` from the targets in the dict; the users' server(s) on `spec.listen` with a
 * location per service (host / path prefix as the spec says); the control server on
 * `dataplane.nginx.control` (loopback only); the access log to Aviary's syslog listener.
 *
 * Why one upstream with `balancer_by_lua` rather than an upstream block per version: upstream
 * servers are configuration in open-source nginx (no runtime API), so a target change would be
 * a reload, and reloads drop keep-alive requests. With the targets in the dict, weights, routes
 * and targets all change without one; only a new host or path prefix needs a render and reload.
 * The `keepalive` pool of the one upstream is keyed by peer, so connections are still reused
 * per target.
 *
 * @module
 */

import { join } from "node:path";
import { stableOnly, trafficFromSpec } from "../../../rollout/traffic.js";
import type { TrafficState } from "../../../rollout/types.js";
import type { NginxSettings, Service, Spec } from "../../../spec/schema.js";
import { listenAddressesOverlap, parseListenAddress } from "../../../util/address.js";
import { parseDuration } from "../../../util/duration.js";
import type { RenderedConfig } from "../render.js";
import { LUA_MODULE } from "./lua-module.js";
import { nginxState, unsupportedIn } from "./state.js";

/** The rendered include's file name. */
export const CONF_FILE = "aviary-nginx.conf";
/** The state file in `stateDir`, one line per service: `<name> <state JSON>`. */
export const STATE_FILE = "nginx-state.txt";
/** The shared dict's name and size (fixed: a size change across a reload would empty it). */
export const DICT_NAME = "aviary";
const DICT_SIZE = "4m";
/** The control server's largest accepted body. */
export const CONTROL_MAX_BODY = 256 * 1024;

/** The state file's path for these settings. */
export function stateFilePath(settings: NginxSettings): string {
  return join(settings.stateDir, STATE_FILE);
}

/** The traffic a service serves before the controller speaks for it (as the embedded router). */
export function initialTraffic(s: Service): TrafficState {
  return s.strategy ? stableOnly(trafficFromSpec(s)) : trafficFromSpec(s);
}

export function renderNginx(spec: Spec): RenderedConfig {
  const settings = spec.dataplane.nginx;
  if (settings === undefined)
    throw new Error("dataplane.nginx: missing; rendering for nginx needs its settings");
  const logs = spec.dataplane.logs;
  if (logs === undefined)
    throw new Error(
      "dataplane.logs.listen: missing; nginx sends its access log there (udp://HOST:PORT)",
    );
  const control = parseListenAddress(settings.control);
  if (control === undefined || !isLoopback(control.host))
    throw new Error(
      `dataplane.nginx.control: ${settings.control} is not a loopback HOST:PORT (127.0.0.1:PORT or [::1]:PORT); the control server must not be reachable from elsewhere`,
    );
  const listen = parseListenAddress(spec.listen);
  if (listen === undefined) throw new Error(`listen: ${spec.listen} is not HOST:PORT`);
  if (listenAddressesOverlap(listen, control))
    throw new Error(
      `dataplane.nginx.control: ${settings.control} takes the same port as listen (${spec.listen}); give them different ports`,
    );

  spec.services.forEach((s, i) => {
    const problems = unsupportedIn(s, initialTraffic(s), settings.targetSlots);
    if (s.mirror !== undefined && !problems.some((p) => p.path === "mirror"))
      problems.push({ path: "mirror", message: "the nginx engine does not mirror requests" });
    const first = problems[0];
    if (first !== undefined) throw new Error(`services[${i}].${first.path}: ${first.message}`);
    if (s.match.host !== undefined && !/^(?:[a-z0-9-]+\.)*[a-z0-9-]+$/.test(s.match.host))
      throw new Error(
        `services[${i}].match.host: ${s.match.host} is not a host name nginx can match as server_name`,
      );
  });

  const syslog = logs.listen.startsWith("udp://")
    ? logs.listen.slice("udp://".length)
    : logs.listen; // unix:/path is nginx's own spelling
  const lines: string[] = [
    "# Rendered by `aviary render nginx`. Include inside http { } of nginx.conf; see the instructions.",
    "# Weights, routes, stickiness and targets change at run time through the control server (no",
    "# reload); a new service, host or path prefix needs a new render and `nginx -s reload`.",
    `lua_shared_dict ${DICT_NAME} ${DICT_SIZE};`,
    "init_by_lua_block {",
    `  aviary = (function(CONFIG)${LUA_MODULE}end)(${luaConfig(spec, settings)})`,
    "  aviary.init()",
    "}",
    "init_worker_by_lua_block { aviary.init_worker() }",
    "# The access-log line contract Aviary's log ingestion reads (one syslog message per request).",
    "log_format aviary1 'aviary1 svc=$aviary_svc ver=$aviary_ver role=$aviary_role st=$status sec=$request_time$aviary_fail';",
    "upstream aviary_targets {",
    "  server 0.0.0.1; # never used: balancer_by_lua picks the peer",
    "  balancer_by_lua_block { aviary.balance() }",
    "  keepalive 64;",
    "  # Idle connections to targets close before Node's default 5 s keep-alive would close them.",
    "  keepalive_timeout 4s;",
    "}",
    "",
    "# The control server: loopback only; Aviary PUTs each service's state here.",
    "server {",
    `  listen ${listenText(control)};`,
    "  access_log off;",
    "  allow 127.0.0.1;",
    "  allow ::1;",
    "  deny all;",
    `  client_max_body_size ${CONTROL_MAX_BODY};`,
    `  client_body_buffer_size ${CONTROL_MAX_BODY};`,
    "  location / { content_by_lua_block { aviary.control() } }",
    "}",
  ];

  const hosts = [...new Set(spec.services.flatMap((s) => (s.match.host ? [s.match.host] : [])))];
  const anyHost = spec.services.filter((s) => s.match.host === undefined);
  const server = (host: string | undefined, services: Service[]) => {
    lines.push(
      "",
      "server {",
      host === undefined
        ? `  listen ${listenText(listen)} default_server;`
        : `  listen ${listenText(listen)};`,
      `  server_name ${host ?? '""'};`,
      '  set $aviary_svc "";',
      '  set $aviary_ver "";',
      '  set $aviary_role "";',
      '  set $aviary_fail "";',
      `  access_log syslog:server=${syslog},tag=aviary,nohostname aviary1 if=$aviary_role;`,
      "  log_by_lua_block { aviary.log() }",
      "  proxy_http_version 1.1;",
      '  proxy_set_header Connection "";',
      "  proxy_set_header Host $http_host;",
      "  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
      "  proxy_set_header X-Forwarded-Proto $scheme;",
      "  # A refused connect is tried once more on the version's next target, as the embedded router does.",
      "  proxy_next_upstream error;",
      "  proxy_next_upstream_tries 2;",
    );
    const prefixes = services.map((s) => s.match.pathPrefix ?? "/");
    for (const s of services) lines.push(...locations(s));
    if (!prefixes.includes("/")) lines.push("  location / { return 404; }");
    lines.push("}");
  };
  server(undefined, anyHost);
  for (const host of hosts) {
    const own = spec.services.filter((s) => s.match.host === host);
    // As in decide.ts, a service with this host wins over any host-less one whose prefix it covers.
    const covered = (s: Service) =>
      own.some((o) => coversPrefix(s.match.pathPrefix ?? "/", o.match.pathPrefix ?? "/"));
    server(host, [...own, ...anyHost.filter((s) => !covered(s))]);
  }

  return {
    files: [{ name: CONF_FILE, content: `${lines.join("\n")}\n` }],
    instructions: [
      `Put ${CONF_FILE} next to nginx.conf (e.g. /etc/nginx/) and in nginx.conf:`,
      "  at the top (Debian's libnginx-mod-http-lua does this in /etc/nginx/modules-enabled/):",
      "    load_module modules/ndk_http_module.so;",
      "    load_module modules/ngx_http_lua_module.so;",
      "  inside http { }:",
      `    include ${CONF_FILE};`,
      `Create ${settings.stateDir} writable by Aviary and readable by nginx's master: Aviary keeps the`,
      `applied state in ${STATE_FILE} there, and nginx serves it at start before Aviary is back.`,
      "Then `nginx -t && nginx -s reload`. The include uses init_by_lua and init_worker_by_lua: nginx",
      "allows one of each per http block.",
    ].join("\n"),
  };
}

/** Locations of one service: by whole segments, as decide.ts matches a path prefix. */
function locations(s: Service): string[] {
  const prefix = s.match.pathPrefix ?? "/";
  const ms = (d: string) => Math.max(1, parseDuration(d) ?? 1);
  const body = [
    `{ access_by_lua_block { aviary.route("${s.name}") }`,
    "proxy_pass http://aviary_targets;",
    `proxy_connect_timeout ${ms(s.timeouts.connect)}ms;`,
    `proxy_read_timeout ${ms(s.timeouts.response)}ms; }`,
  ].join(" ");
  if (prefix.endsWith("/")) return [`  location ${quote(prefix)} ${body}`];
  return [`  location = ${quote(prefix)} ${body}`, `  location ${quote(`${prefix}/`)} ${body}`];
}

/** Whether every path under `inner` is under `outer` (whole segments). */
function coversPrefix(inner: string, outer: string): boolean {
  if (outer === "/" || outer === inner) return true;
  const o = outer.endsWith("/") ? outer : `${outer}/`;
  return inner.startsWith(o);
}

function quote(path: string): string {
  return `"${path.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

function listenText(a: { host: string; port: number }): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function isLoopback(host: string): boolean {
  return host === "::1" || host === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The CONFIG table the Lua module reads: services with their initial states, paths, slots. */
function luaConfig(spec: Spec, settings: NginxSettings): string {
  const services = spec.services.map(
    (s) =>
      `{ name = ${luaString(s.name)}, initial = ${luaString(JSON.stringify(nginxState(s, initialTraffic(s))))} }`,
  );
  return [
    "{",
    `    dict = ${luaString(DICT_NAME)},`,
    `    state_file = ${luaString(stateFilePath(settings))},`,
    `    slots = ${settings.targetSlots},`,
    `    services = { ${services.join(", ")} },`,
    "  }",
  ].join("\n");
}

/** A Lua string literal: every byte outside printable ASCII, and quotes and backslashes, escaped. */
export function luaString(s: string): string {
  let out = '"';
  for (const b of Buffer.from(s, "utf8")) {
    out +=
      b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c && b !== 0x24
        ? String.fromCharCode(b)
        : `\\${String(b).padStart(3, "0")}`;
  }
  return `${out}"`;
}
