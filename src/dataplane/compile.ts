/**
 * Turns a spec's service into the {@link ServicePlan} a {@link RouterPlan} holds. Runs when that
 * service changes, never per request.
 *
 * @module
 */

import type { ProxySettings, Service, Version } from "../spec/schema.js";
import { addressMatcher } from "../util/cidr.js";
import { parseDuration } from "../util/duration.js";
import { bucketerFor } from "./hash.js";
import { compileRequestMatch } from "./match.js";
import type { MetricsRegistry, Role } from "./metrics/registry.js";
import type { RouterPlan, ServicePlan, StickyPlan, VersionPlan } from "./plan.js";
import type { HeaderSlots } from "./request-view.js";
import { outlierPolicy, type Target, TargetGroup, type TargetRegistry } from "./targets.js";

export interface CompileContext {
  targets: TargetRegistry;
  metrics: MetricsRegistry;
  proxy: ProxySettings;
  /** Header slots shared by every plan of one router, so a service's compiled plan stays valid in later plans. */
  slots: HeaderSlots;
}

/**
 * The order {@link RouterPlan.services} keeps, most specific first: a host beats no host, then
 * the longer path prefix; ties keep the spec's order (`order`, the service's place in it).
 */
export function bySpecificity(
  a: ServicePlan,
  aOrder: number,
  b: ServicePlan,
  bOrder: number,
): number {
  return (
    Number(b.host !== undefined) - Number(a.host !== undefined) ||
    b.pathPrefix.length - a.pathPrefix.length ||
    aOrder - bOrder
  );
}

/**
 * A whole plan from scratch, for use outside a router (benchmarks, tools); the router itself
 * compiles service by service so that a change to one costs work for that one only.
 */
export function compilePlan(
  services: readonly Service[],
  ctx: CompileContext & { generation: number },
): RouterPlan {
  const plans = services.map((svc, order) => ({ plan: compileService(svc, ctx), order }));
  plans.sort((a, b) => bySpecificity(a.plan, a.order, b.plan, b.order));
  return {
    services: plans.map((p) => p.plan),
    slots: ctx.slots,
    hostSlot: ctx.slots.slot("host"),
    generation: ctx.generation,
    trustedProxy: addressMatcher(ctx.proxy.trustedProxies),
  };
}

/** Every target a service plan sends to (stable and canary; the mirror sends to the canary's). */
export function targetsOf(plan: ServicePlan): Set<Target> {
  const out = new Set<Target>(plan.stable.targets.targets);
  for (const t of plan.canary?.targets.targets ?? []) out.add(t);
  return out;
}

/** One service's plan; its targets are made in the registry but not held (the router holds them once it serves the plan). */
export function compileService(svc: Service, ctx: CompileContext): ServicePlan {
  const slots = ctx.slots;
  const ms = (d: string) => parseDuration(d) as number;
  const poolSettings = {
    connectTimeoutMs: ms(svc.timeouts.connect),
    connections: ctx.proxy.connectionsPerTarget,
    queue: ctx.proxy.queuePerTarget,
    // Shorter than the usual upstream keep-alive (Node's 5 s) so Aviary closes idle sockets
    // first and never reuses one the upstream is closing.
    keepAliveTimeoutMs: 4_000,
  };
  const policy = outlierPolicy(svc.outlierDetection);
  const version = (v: Version, role: Role): VersionPlan => ({
    service: svc.name,
    name: v.version,
    role,
    targets: new TargetGroup(
      v.targets.map((url) => ctx.targets.get(new URL(url).origin, poolSettings)),
      policy,
    ),
    recorder: ctx.metrics.recorder(svc.name, v.version, role),
  });
  const stable = version(svc.stable, "stable");
  const canary = svc.canary ? version(svc.canary, "canary") : undefined;

  // A route to the canary waits, inactive, while there is no canary.
  const routes = svc.routes.flatMap((r) => {
    const to = r.to === "canary" ? canary : stable;
    return to === undefined ? [] : [{ test: compileRequestMatch(r.match, slots), to }];
  });

  const mirror =
    svc.mirror && canary && svc.mirror.percent > 0
      ? {
          thresholdBp: Math.round(svc.mirror.percent * 100),
          test: svc.mirror.match ? compileRequestMatch(svc.mirror.match, slots) : undefined,
          methods: new Set(svc.mirror.methods),
          to: {
            ...canary,
            role: "mirror" as const,
            recorder: ctx.metrics.recorder(svc.name, canary.name, "mirror"),
          },
        }
      : undefined;

  return {
    name: svc.name,
    host: svc.match.host,
    pathPrefix: svc.match.pathPrefix ?? "/",
    stable,
    canary,
    weightBp: Math.round(svc.weight * 100),
    routes,
    sticky: compileSticky(svc, slots),
    bucketer: bucketerFor(svc.stickiness?.group ?? svc.name),
    mirror,
    responseTimeoutMs: ms(svc.timeouts.response),
    idleTimeoutMs: ms(svc.timeouts.idle),
  };
}

function compileSticky(svc: Service, slots: HeaderSlots): StickyPlan | undefined {
  const s = svc.stickiness;
  if (s === undefined) return undefined;
  if (s.header !== undefined) return { kind: "header", slot: slots.slot(s.header) };
  if (s.cookie !== undefined) {
    const maxAge = Math.round((parseDuration(s.cookieMaxAge) as number) / 1000);
    return {
      kind: "cookie",
      slot: slots.slot("cookie"),
      name: s.cookie,
      setCookieSuffix: s.setCookie
        ? `; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax`
        : undefined,
    };
  }
  return { kind: "clientAddress" };
}
