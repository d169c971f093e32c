import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Spec } from "../../spec/schema.js";
import { capabilityIssues } from "./capabilities.js";
import { EMBEDDED_CAPABILITIES } from "./embedded/capabilities.js";
import type { TrafficCapabilities } from "./provider.js";

/** An engine that matches headers and cookies exactly or by prefix, mirrors nothing, and splits in whole percents. */
const limited: TrafficCapabilities = {
  routes: { headers: true, cookies: true, query: false },
  matchKinds: { exact: true, prefix: true, regex: false },
  mirror: false,
  stickiness: { header: true, cookie: true, clientAddress: true, setCookie: false },
  weightStep: 1,
  maxTargets: 2,
  dataPath: true,
};

const v = (version: string, n = 1) => ({
  version,
  targets: Array.from({ length: n }, (_, i) => `http://127.0.0.1:${9000 + i}`),
});

describe("engine capabilities", () => {
  it("names every field a limited engine cannot serve, and nothing the embedded router cannot", () => {
    const services = Spec.parse({
      services: [
        {
          name: "shop",
          match: { pathPrefix: "/shop" },
          stable: v("v1", 3),
          stickiness: { cookie: "uid", setCookie: true },
          routes: [{ match: { query: { beta: { exact: "1" } } }, to: "canary" }],
          mirror: { percent: 5 },
          canary: v("v2"),
          weight: 2.5,
        },
        {
          name: "web",
          match: { pathPrefix: "/web" },
          stable: v("v1"),
          strategy: {
            steps: [
              { setHeaderRoute: { name: "b", match: { headers: { "x-b": { regex: "^a+$" } } } } },
              { setWeight: 12.5 },
              { setMirror: { percent: 10 } },
            ],
          },
        },
      ],
    }).services;
    const issues = capabilityIssues(services, "haproxy", limited).map(
      (i) => `${i.path.join(".")}: ${i.message}`,
    );
    assert.deepEqual(issues, [
      "services.0.routes.0.match.query: engine haproxy cannot match on query parameters",
      "services.0.mirror: engine haproxy cannot mirror requests",
      "services.0.weight: engine haproxy cannot serve a weight of 2.5 % (it splits in steps of 1 %)",
      "services.0.stickiness.setCookie: engine haproxy cannot set the sticky cookie itself",
      "services.0.stable.targets: engine haproxy cannot give one version more than 2 targets (raise its targetSlots)",
      "services.1.strategy.steps.0.setHeaderRoute.match.headers.x-b.regex: engine haproxy cannot match a value by regex",
      "services.1.strategy.steps.1.setWeight: engine haproxy cannot serve a weight of 12.5 % (it splits in steps of 1 %)",
      "services.1.strategy.steps.2.setMirror: engine haproxy cannot mirror requests",
    ]);
    assert.deepEqual(capabilityIssues(services, "embedded", EMBEDDED_CAPABILITIES), []);
  });
});
