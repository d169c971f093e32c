/**
 * The fleet state: what every `aviary router` serves, as the control plane hands it out on
 * `GET /api/v1/fleet/state`. It carries the spec's proxy settings and each service as the
 * spec describes it (without its strategy: a router only routes) with the traffic the
 * controller decided and that traffic's revision.
 *
 * Revisions make a state comparable: `specRevision` is the applied spec's, each service's
 * `revision` is its stored traffic's (0 while the controller has not spoken for it). A router
 * never goes back: under the same spec revision it keeps its own entry for a service whose
 * revision is lower than the one it serves (see {@link mergeNewer}).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { z } from "zod";
import { stableOnly, trafficFromSpec, withTraffic } from "../rollout/traffic.js";
import type { ServiceState, TrafficState } from "../rollout/types.js";
import { type ProxySettings, type Service, Spec } from "../spec/schema.js";
import { canonicalJson } from "../util/same-json.js";

/** One service as a router serves it. */
export interface FleetService {
  /** The service's spec without its strategy. */
  spec: Service;
  traffic: TrafficState;
  /** The stored traffic's revision; 0 for a service the controller has not spoken for. */
  revision: number;
}

export interface FleetState {
  /** The applied spec's revision (0 before any). */
  specRevision: number;
  proxy: ProxySettings;
  /** The spec's metrics window (ms): how far back a router keeps and reports its figures. */
  metricsWindowMs: number;
  services: FleetService[];
}

/** The spec's services for a router: strategies (and their analysis) are the leader's business. */
export function routedSpec(service: Service): Service {
  const { strategy: _strategy, ...rest } = service;
  return rest as Service;
}

/**
 * The fleet state of a spec and the stored service states: each service under its stored
 * traffic, or under the traffic it starts from (its spec, minus a canary a strategy is about to
 * roll out) when none is stored. The same composition the embedded router uses.
 */
export function composeFleetState(
  spec: { services: readonly Service[]; proxy: ProxySettings; metricsWindowMs: number },
  specRevision: number,
  stored: ReadonlyMap<string, Pick<ServiceState, "traffic" | "revision">>,
): FleetState {
  return {
    specRevision,
    proxy: spec.proxy,
    metricsWindowMs: spec.metricsWindowMs,
    services: spec.services.map((s) => {
      const st = stored.get(s.name);
      return {
        spec: routedSpec(s),
        traffic: st?.traffic ?? initialTraffic(s),
        revision: st?.revision ?? 0,
      };
    }),
  };
}

export function initialTraffic(s: Service): TrafficState {
  return s.strategy ? stableOnly(trafficFromSpec(s)) : trafficFromSpec(s);
}

/**
 * A strong ETag of a state: equal states, equal tags, on every instance (keys sorted: a state
 * read back from Postgres's jsonb has its keys in another order than one built in memory).
 */
export function etagOf(state: FleetState): string {
  return `"${createHash("sha256").update(canonicalJson(state)).digest("base64url").slice(0, 22)}"`;
}

const Revision = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

/** The wire shape; the services themselves are checked by the spec's own schema afterwards. */
const FleetStateWire = z.strictObject({
  specRevision: Revision,
  proxy: z.record(z.string(), z.unknown()),
  metricsWindowMs: z
    .int()
    .min(1000)
    .max(7 * 24 * 3600_000),
  services: z
    .array(
      z.strictObject({
        spec: z.record(z.string(), z.unknown()),
        traffic: z.record(z.string(), z.unknown()),
        revision: Revision,
      }),
    )
    .max(10_000),
});

export class FleetStateError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = "FleetStateError";
  }
}

/** A fleet state checked, and each service with its traffic as the router will serve it. */
export interface CheckedFleetState {
  state: FleetState;
  /** The services with their traffic applied, validated by the spec's schema, in order. */
  composed: Service[];
  /** The proxy settings as the spec's schema reads them. */
  proxy: ProxySettings;
}

/**
 * Checks a state received from a control plane (or read from disk): its shape, then every
 * service under its traffic through the spec's own schema, so a router never swaps in a plan
 * `aviary validate` would refuse. `where` names the source in the error.
 */
export function checkFleetState(value: unknown, where: string): CheckedFleetState {
  const wire = FleetStateWire.safeParse(value);
  if (!wire.success) throw new FleetStateError(where, issues(wire.error));
  const w = wire.data;
  let composed: Service[];
  try {
    composed = w.services.map((e) =>
      withTraffic(e.spec as unknown as Service, e.traffic as unknown as TrafficState),
    );
  } catch (err) {
    throw new FleetStateError(where, `a service's traffic is malformed: ${(err as Error).message}`);
  }
  const parsed = Spec.safeParse({ proxy: w.proxy, services: composed });
  if (!parsed.success) throw new FleetStateError(where, issues(parsed.error));
  return {
    state: w as unknown as FleetState,
    composed: parsed.data.services,
    proxy: parsed.data.proxy,
  };
}

function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
    .join("; ");
}

/**
 * What a router should serve, given what it serves (`mine`) and a state it received: the
 * received state, except that a service whose revision went back under the same spec revision
 * keeps the router's entry. A received state with an older spec revision is refused whole
 * (undefined). A newer spec revision is taken whole: a service removed and added again starts
 * again at revision 1.
 */
export function mergeNewer(mine: FleetState | undefined, got: FleetState): FleetState | undefined {
  if (mine === undefined || got.specRevision > mine.specRevision) return got;
  if (got.specRevision < mine.specRevision) return undefined;
  const own = new Map(mine.services.map((s) => [s.spec.name, s]));
  let kept = 0;
  const services = got.services.map((s) => {
    const cur = own.get(s.spec.name);
    if (cur !== undefined && cur.revision > s.revision) {
      kept++;
      return cur;
    }
    return s;
  });
  if (kept === got.services.length && got.services.length > 0) return undefined;
  return kept === 0 ? got : { ...got, services };
}
