/**
 * What a spec asks of its engine, checked against what the engine can do, so that `aviary
 * validate` (and every load of the spec) refuses a spec the engine would serve wrongly — naming
 * the field — instead of a rollout failing at the step that needs it.
 *
 * @module
 */

import type { Service } from "../../spec/schema.js";
import type { Mirror, RequestMatch, Stickiness, StringMatch } from "../../spec/schema-parts.js";
import type { Step } from "../../spec/strategy.js";
import type { TrafficCapabilities } from "./provider.js";

export interface CapabilityIssue {
  path: Array<string | number>;
  message: string;
}

/** Every place in `services` asking `engine` for more than `caps` allows. */
export function capabilityIssues(
  services: readonly Service[],
  engine: string,
  caps: TrafficCapabilities,
): CapabilityIssue[] {
  const issues: CapabilityIssue[] = [];
  const refuse = (path: Array<string | number>, what: string) =>
    issues.push({ path, message: `engine ${engine} cannot ${what}` });

  const match = (m: RequestMatch | undefined, at: Array<string | number>) => {
    if (m === undefined) return;
    const kinds = (values: Record<string, StringMatch> | undefined, key: string) => {
      for (const [name, v] of Object.entries(values ?? {})) {
        const kind = Object.keys(v)[0] as keyof TrafficCapabilities["matchKinds"];
        if (!caps.matchKinds[kind]) refuse([...at, key, name, kind], `match a value by ${kind}`);
      }
    };
    if (m.headers !== undefined) {
      if (!caps.routes.headers) refuse([...at, "headers"], "match on request headers");
      else kinds(m.headers, "headers");
    }
    if (m.cookies !== undefined) {
      if (!caps.routes.cookies) refuse([...at, "cookies"], "match on cookies");
      else kinds(m.cookies, "cookies");
    }
    if (m.query !== undefined) {
      if (!caps.routes.query) refuse([...at, "query"], "match on query parameters");
      else kinds(m.query, "query");
    }
  };
  const mirror = (m: Mirror | undefined, at: Array<string | number>) => {
    if (m === undefined || m.percent === 0) return;
    if (!caps.mirror) refuse(at, "mirror requests");
    else match(m.match, [...at, "match"]);
  };
  const weight = (w: number, at: Array<string | number>) => {
    const steps = w / caps.weightStep;
    if (Math.abs(steps - Math.round(steps)) > 1e-6)
      refuse(at, `serve a weight of ${w} % (it splits in steps of ${caps.weightStep} %)`);
  };
  const sticky = (s: Stickiness | undefined, at: Array<string | number>) => {
    if (s === undefined) return;
    if (s.header !== undefined && !caps.stickiness.header)
      refuse([...at, "header"], "keep users sticky on a header");
    if (s.cookie !== undefined && !caps.stickiness.cookie)
      refuse([...at, "cookie"], "keep users sticky on a cookie");
    if (s.clientAddress && !caps.stickiness.clientAddress)
      refuse([...at, "clientAddress"], "keep users sticky on the client address");
    if (s.setCookie && !caps.stickiness.setCookie)
      refuse([...at, "setCookie"], "set the sticky cookie itself");
  };
  const targets = (targets: readonly string[], at: Array<string | number>) => {
    if (targets.length > caps.maxTargets)
      refuse(at, `give one version more than ${caps.maxTargets} targets (raise its targetSlots)`);
  };
  const step = (s: Step, at: Array<string | number>) => {
    if ("setWeight" in s) weight(s.setWeight, [...at, "setWeight"]);
    if ("setHeaderRoute" in s) match(s.setHeaderRoute.match, [...at, "setHeaderRoute", "match"]);
    if ("setMirror" in s) mirror(s.setMirror, [...at, "setMirror"]);
  };

  services.forEach((svc, i) => {
    const at = ["services", i];
    svc.routes.forEach((r, j) => {
      match(r.match, [...at, "routes", j, "match"]);
    });
    mirror(svc.mirror, [...at, "mirror"]);
    weight(svc.weight, [...at, "weight"]);
    sticky(svc.stickiness, [...at, "stickiness"]);
    targets(svc.stable.targets, [...at, "stable", "targets"]);
    if (svc.canary) targets(svc.canary.targets, [...at, "canary", "targets"]);
    svc.strategy?.steps.forEach((s, k) => {
      step(s, [...at, "strategy", "steps", k]);
    });
    match(svc.strategy?.blueGreen?.preview, [...at, "strategy", "blueGreen", "preview"]);
  });
  return issues;
}
