import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Spec } from "../spec/schema.js";
import { planSpecChanges } from "./spec-changes.js";
import { shop, V1, V2 } from "./test-harness.js";
import type { Rollout, ServiceState } from "./types.js";

const parse = (services: unknown[]) => Spec.parse({ services }).services;
const web = { name: "web", match: { pathPrefix: "/web" }, stable: V1 };

function stateOf(name: string, rolloutId: string | null = null): ServiceState {
  return {
    name,
    traffic: { stable: V1, canary: null, weight: 0, headerRoutes: [], mirror: null },
    rolloutId,
    previousStable: null,
    updatedAt: 0,
    revision: 1,
  };
}

const rolloutOf = (phase: Rollout["phase"]) => ({ id: "r-1", phase, canary: V2 }) as Rollout;

describe("planSpecChanges: removing a service", () => {
  it("removes a service the store holds and the spec no longer names, saying its history stays", () => {
    const previous = new Map(parse([shop(), web]).map((s) => [s.name, s]));
    const changes = planSpecChanges(
      parse([shop()]),
      previous,
      (name) => ({ state: stateOf(name), rollout: undefined }),
      ["shop", "web"],
    );
    assert.deepEqual(changes, [
      {
        kind: "remove",
        service: "web",
        summary: "web is no longer in the spec: the router stops serving it (its history stays)",
      },
    ]);
  });

  it("says that an active rollout of a removed service is aborted, and not a finished one", () => {
    const plan = (phase: Rollout["phase"]) =>
      planSpecChanges(
        parse([web]),
        new Map(),
        (name) =>
          name === "shop"
            ? { state: stateOf(name, "r-1"), rollout: rolloutOf(phase) }
            : { state: stateOf(name), rollout: undefined },
        ["shop", "web"],
      ).map((c) => c.summary);
    assert.deepEqual(plan("Paused"), [
      "shop is no longer in the spec: its rollout of v2 is aborted, the router stops serving it (its history stays)",
    ]);
    assert.deepEqual(plan("Healthy"), [
      "shop is no longer in the spec: the router stops serving it (its history stays)",
    ]);
  });

  it("removes what the store holds even without a previous spec (a service deleted from the file while Aviary was stopped)", () => {
    const changes = planSpecChanges(
      parse([web]),
      new Map(),
      (name) => ({ state: name === "web" ? undefined : stateOf(name), rollout: undefined }),
      ["shop"],
    );
    assert.deepEqual(
      changes.map((c) => [c.kind, c.service]),
      [
        ["create", "web"],
        ["remove", "shop"],
      ],
    );
  });

  it("plans nothing for a service already gone from the store", () => {
    const previous = new Map(parse([shop(), web]).map((s) => [s.name, s]));
    const changes = planSpecChanges(
      parse([shop()]),
      previous,
      (name) => ({ state: stateOf(name), rollout: undefined }),
      ["shop"],
    );
    assert.deepEqual(changes, []);
  });
});
