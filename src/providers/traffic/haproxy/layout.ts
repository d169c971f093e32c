/**
 * Names shared by what `renderHaproxy` writes and what the provider drives at run time: the
 * backends and server slots of each service's roles, its map file and the keys in it. Both sides
 * derive them from the service name alone, so the provider can read an engine it did not start.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { resolveStrategy } from "../../../rollout/steps.js";
import type { RequestMatch, Service } from "../../../spec/schema.js";

export type Role = "stable" | "canary";

/** Service names are `[a-z0-9._-]`, safe in HAProxy names and file names as they are. */
export function backendName(service: string, role: Role): string {
  return `aviary-${service}-${role}`;
}

/** The service a backend name belongs to, or undefined for a backend Aviary did not render. */
export function parseBackendName(name: string): { service: string; role: Role } | undefined {
  const m = /^aviary-([a-z0-9._-]+)-(stable|canary)$/.exec(name);
  return m === null ? undefined : { service: m[1] as string, role: m[2] as Role };
}

export function serverName(slot: number): string {
  return `s${slot + 1}`;
}

export function mapFileName(service: string): string {
  return `aviary-${service}.map`;
}

export function mapPath(mapsDir: string, service: string): string {
  return join(mapsDir, mapFileName(service));
}

/**
 * Keys of a service's map. `stable` present means Aviary serves the service; `canary` present
 * means a canary is in rotation; `weight` is the canary's share in basis points (0-10000);
 * `route.<n>` switches on the n-th rendered managed route, its value `<order>/<name>`.
 */
export const KEY = {
  stable: "stable",
  canary: "canary",
  weight: "weight",
  route: (index: number) => `route.${index}`,
} as const;

/** A managed header route the configuration can switch on: its name and match, as a strategy step says. */
export interface RenderedRoute {
  name: string;
  match: RequestMatch;
}

/**
 * Every managed route a service's strategy can add, in the order its steps first name them. The
 * same name with two different matches renders twice: each is its own switch.
 */
export function managedRoutes(service: Service): RenderedRoute[] {
  const out: RenderedRoute[] = [];
  // Resolved, so the blue/green form's preview route counts too.
  const steps = service.strategy === undefined ? [] : resolveStrategy(service.strategy).steps;
  for (const step of steps) {
    if (!("setHeaderRoute" in step)) continue;
    const { name, match } = step.setHeaderRoute;
    if (match === undefined) continue;
    if (!out.some((r) => r.name === name && sameMatch(r.match, match))) out.push({ name, match });
  }
  return out;
}

export function sameMatch(a: RequestMatch, b: RequestMatch): boolean {
  return canonical(a) === canonical(b);
}

function canonical(m: RequestMatch): string {
  const sorted = (r: Record<string, unknown> | undefined) =>
    Object.entries(r ?? {}).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return JSON.stringify([sorted(m.headers), sorted(m.cookies), sorted(m.query)]);
}

/** Services most specific first, as the embedded router tries them: a host first, then the longer prefix. */
export function bySpecificity(services: readonly Service[]): Service[] {
  return [...services].sort(
    (a, b) =>
      Number(b.match.host !== undefined) - Number(a.match.host !== undefined) ||
      (b.match.pathPrefix ?? "/").length - (a.match.pathPrefix ?? "/").length,
  );
}

/** A managed route's identity in the catalog: its name and its match, so a changed match is a different route. */
export function routeKey(route: RenderedRoute): string {
  return `${encodeURIComponent(route.name)}#${createHash("sha256").update(canonical(route.match)).digest("hex").slice(0, 16)}`;
}

/**
 * What the rendered configuration holds, as the `aviary catalog` Runtime API command (registered
 * by the Lua file) prints it: per service its rendered stable targets and its managed routes.
 * The provider reads it from the running engine, so a route the running configuration lacks
 * is refused as `not-configured` instead of being switched on in a map nobody reads.
 */
export function renderCatalog(services: readonly Service[], slots: number): string {
  const lines: string[] = [];
  for (const svc of services) {
    lines.push(`service ${svc.name} ${slots}`);
    lines.push(
      `stable ${svc.name} ${svc.stable.targets.map(encodeURIComponent).join(" ")}`.trimEnd(),
    );
    managedRoutes(svc).forEach((r, j) => {
      lines.push(`route ${svc.name} ${j} ${routeKey(r)}`);
    });
  }
  return `${lines.join("\n")}\n`;
}

export interface CatalogService {
  slots: number;
  stableTargets: string[];
  /** Route key → its index in the configuration. */
  routes: Map<string, number>;
}

export function parseCatalog(text: string): Map<string, CatalogService> {
  const out = new Map<string, CatalogService>();
  for (const line of text.split("\n")) {
    const [kind, name, ...rest] = line.trim().split(" ");
    if (name === undefined) continue;
    if (kind === "service")
      out.set(name, { slots: Number(rest[0]), stableTargets: [], routes: new Map() });
    const svc = out.get(name);
    if (svc === undefined) continue;
    if (kind === "stable") svc.stableTargets = rest.filter(Boolean).map(decodeURIComponent);
    if (kind === "route") svc.routes.set(rest[1] as string, Number(rest[0]));
  }
  return out;
}
