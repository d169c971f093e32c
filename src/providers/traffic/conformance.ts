/**
 * The conformance suite every traffic provider passes, against its real engine. A provider's
 * test file calls {@link runTrafficConformance} with a setup that renders whatever the engine
 * needs for the suite's services, starts the engine on loopback in a temporary directory, and
 * hands back the provider connected to it. The suite starts real upstreams (each answers with
 * its name in `x-upstream`) and checks the contract of {@link TrafficProvider}:
 *
 * - configure serves the spec's services (stable only while a strategy owns the canary);
 * - apply moves one service's weight, canary, routes and mirror, and only that service's;
 * - observe reads back exactly what apply set (`servedOf`), and tells the truth: what it
 *   reports is what requests through the engine get;
 * - stickiness is Aviary's: a user lands on the canary exactly when `bucketerFor(group)`
 *   puts them below the weight, whichever engine serves them, and stays there as it grows;
 * - finalize removes the service from what observe reports; configure brings it back;
 * - a hand edit of the engine shows up in observe as drift, and apply repairs it;
 * - with the engine down, apply and observe fail with a TrafficProviderError (unreachable or
 *   timeout) in bounded time, and succeed again once it is back;
 * - a state asking for more than the capabilities say is refused as `unsupported`.
 *
 * Cases needing a data path or an engine that can be stopped are registered only for providers
 * that have them (the no-op provider has neither); none is skipped at run time.
 *
 * @module
 */

import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { bucketerFor } from "../../dataplane/hash.js";
import { stableOnly, trafficFromSpec } from "../../rollout/traffic.js";
import type { TrafficState } from "../../rollout/types.js";
import { type Service, Spec, type SpecInput } from "../../spec/schema.js";
import { type TrafficProvider, TrafficProviderError } from "./provider.js";
import { servedOf, trafficDrift } from "./served.js";

/** A running engine and the provider that drives it, as a provider's test builds them. */
export interface EngineUnderTest {
  provider: TrafficProvider;
  /** The engine's listener for users' requests (`http://127.0.0.1:port`); absent without a data path. */
  url?: string;
  /** Changes the service's canary weight behind Aviary's back, with the engine's own tools. */
  tamper?(service: string, weight: number): Promise<void>;
  /** Stops the engine (its process ends); the provider stays. */
  stop?(): Promise<void>;
  /** Starts it again with the configuration it was first started with. */
  start?(): Promise<void>;
  /** Stops everything the setup started. */
  close(): Promise<void>;
}

export interface TrafficConformanceSetup {
  /** The engine's name, for the suite's title. */
  name: string;
  /**
   * What the engine under test offers, known before it starts (cases are registered at
   * collection time): a data path for users' requests, a hand edit (`tamper`), a stop and a
   * start of its process.
   */
  features: { dataPath: boolean; tamper: boolean; stopStart: boolean };
  /** Renders what the engine needs for `services`, starts it, and connects a provider to it. */
  start(services: readonly Service[]): Promise<EngineUnderTest>;
}

/** An upstream that answers every request with its name in `x-upstream`. */
interface Upstream {
  url: string;
  close(): Promise<void>;
}

async function startUpstream(name: string): Promise<Upstream> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/plain", "x-upstream": name });
      res.end(name);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Bounds every wait on an engine, far above any provider's own timeout. */
const GUARD_MS = 15_000;

async function bounded<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not settle within ${GUARD_MS} ms`)),
      GUARD_MS,
    );
  });
  try {
    return await Promise.race([p, guard]);
  } finally {
    clearTimeout(timer);
  }
}

export function runTrafficConformance(setup: TrafficConformanceSetup): void {
  describe(`traffic provider conformance: ${setup.name}`, () => {
    const up: Record<string, Upstream> = {};
    let engine: EngineUnderTest;
    let specs: Service[];

    const version = (name: string) => ({
      version: name.split("-")[1] as string,
      targets: [up[name]?.url as string],
    });
    const input = (): SpecInput["services"] => [
      {
        name: "shop",
        match: { pathPrefix: "/shop" },
        stable: version("shop-v1"),
        stickiness: { header: "x-user" },
        strategy: {
          steps: [
            { setHeaderRoute: { name: "beta", match: { headers: { "x-beta": { exact: "1" } } } } },
            { setWeight: 30 },
            { setWeight: 60 },
          ],
        },
      },
      { name: "web", match: { pathPrefix: "/web" }, stable: version("web-v1") },
    ];
    const shop = (): Service => specs[0] as Service;
    const state = (
      canary: string | null,
      weight: number,
      extra: Partial<TrafficState> = {},
    ): TrafficState => ({
      stable: version("shop-v1"),
      canary: canary === null ? null : version(canary),
      weight,
      headerRoutes: [],
      mirror: null,
      ...extra,
    });
    const beta = { name: "beta", match: { headers: { "x-beta": { exact: "1" } } } };

    /** The version that answered a request through the engine. */
    async function answer(path: string, headers: Record<string, string> = {}): Promise<string> {
      const res = await request(`${engine.url}${path}`, { headers });
      await res.body.dump();
      const name = res.headers["x-upstream"];
      return typeof name === "string" ? (name.split("-")[1] as string) : `status ${res.statusCode}`;
    }
    async function observed(service: string) {
      return (await bounded("observe", engine.provider.observe())).get(service);
    }
    async function assertServes(service: string, s: TrafficState): Promise<void> {
      const drift = trafficDrift(servedOf(s), await observed(service));
      assert.equal(drift, undefined, `observe after apply: ${drift}`);
    }

    before(async () => {
      for (const name of ["shop-v1", "shop-v2", "shop-v3", "web-v1"])
        up[name] = await startUpstream(name);
      specs = Spec.parse({ services: input() }).services;
      engine = await setup.start(specs);
    });
    after(async () => {
      await engine?.close();
      for (const u of Object.values(up)) await u.close();
    });

    it("declares its capabilities", () => {
      const caps = engine.provider.capabilities;
      assert.ok(caps.weightStep > 0 && caps.weightStep <= 1, "weight step in (0, 1] %");
      assert.ok(caps.maxTargets >= 1, "at least one target per version");
      assert.equal(typeof engine.provider.type, "string");
    });

    it("configure serves every service of the spec, stable only while a strategy owns the canary", async () => {
      await bounded("configure", engine.provider.configure(specs, new Map()));
      await assertServes("shop", stableOnly(trafficFromSpec(shop())));
      await assertServes("web", trafficFromSpec(specs[1] as Service));
    });

    it("apply moves one service and observe reads back exactly what it set", async () => {
      // Header routes where the provider has them (a flag's rollout has none: rules do that).
      const headerRoutes = engine.provider.capabilities.routes.headers ? [beta] : [];
      const s = state("shop-v2", 30, { headerRoutes });
      await bounded("apply", engine.provider.apply("shop", s));
      await assertServes("shop", s);
      await assertServes("web", trafficFromSpec(specs[1] as Service));
    });

    it("refuses a state beyond its capabilities as unsupported, or serves it", async () => {
      const caps = engine.provider.capabilities;
      const mirrored = state("shop-v2", 30, { mirror: { percent: 10, methods: ["GET"] } });
      if (caps.mirror) {
        await bounded("apply", engine.provider.apply("shop", mirrored));
        await assertServes("shop", mirrored);
      } else {
        await assert.rejects(
          bounded("apply", engine.provider.apply("shop", mirrored)),
          (e) => e instanceof TrafficProviderError && e.kind === "unsupported",
        );
      }
      if (!Number.isFinite(caps.maxTargets)) return;
      const tooMany = state("shop-v2", 30);
      (tooMany.canary as { targets: string[] }).targets = Array.from(
        { length: caps.maxTargets + 1 },
        (_, i) => `http://127.0.0.1:${20000 + i}`,
      );
      await assert.rejects(
        bounded("apply", engine.provider.apply("shop", tooMany)),
        (e) => e instanceof TrafficProviderError && e.kind === "unsupported",
      );
    });

    it("finalize removes the service; configure brings it back from its spec", async () => {
      await bounded("finalize", engine.provider.finalize("web"));
      assert.equal(await observed("web"), undefined);
      await bounded("finalize again", engine.provider.finalize("web"));
      await bounded("configure", engine.provider.configure(specs, new Map()));
      await assertServes("web", trafficFromSpec(specs[1] as Service));
    });

    if (!setup.features.dataPath) return;

    it("sends users where observe says: canary at 100, stable at 0, a header route at 0", async () => {
      await engine.provider.apply("shop", state("shop-v2", 100));
      assert.equal(await answer("/shop/a"), "v2");
      assert.equal(await answer("/web/a"), "v1", "another service is untouched");
      await engine.provider.apply("shop", state("shop-v2", 0, { headerRoutes: [beta] }));
      await assertServes("shop", state("shop-v2", 0, { headerRoutes: [beta] }));
      assert.equal(await answer("/shop/a", { "x-user": "u1" }), "v1");
      assert.equal(await answer("/shop/a", { "x-user": "u1", "x-beta": "1" }), "v2");
      assert.equal(await answer("/shop/a", { "x-user": "u1", "x-beta": "2" }), "v1");
    });

    it("buckets users exactly as the embedded router does, monotone as the weight grows", async () => {
      const bucketer = bucketerFor("shop");
      const users = Array.from({ length: 300 }, (_, i) => `user-${i}@example.com`);
      const onCanary = new Map<number, Set<string>>();
      for (const weight of [5, 30, 60]) {
        await engine.provider.apply("shop", state("shop-v2", weight));
        const got = new Set<string>();
        for (const u of users) {
          const v = await answer("/shop/", { "x-user": u });
          const want = bucketer.bucket(u) < weight * 100 ? "v2" : "v1";
          assert.equal(v, want, `${u} at ${weight} %: bucket ${bucketer.bucket(u)}`);
          if (v === "v2") got.add(u);
        }
        onCanary.set(weight, got);
      }
      for (const u of onCanary.get(5) ?? [])
        assert.ok(onCanary.get(30)?.has(u), `${u} stays on the canary`);
      for (const u of onCanary.get(30) ?? [])
        assert.ok(onCanary.get(60)?.has(u), `${u} stays on the canary`);
      assert.ok((onCanary.get(30)?.size ?? 0) > 50 && (onCanary.get(30)?.size ?? 0) < 130);
    });

    it("changes the canary's version and targets", async () => {
      const s = state("shop-v3", 100);
      await engine.provider.apply("shop", s);
      await assertServes("shop", s);
      assert.equal(await answer("/shop/"), "v3");
      await engine.provider.apply("shop", stableOnly(s));
      await assertServes("shop", stableOnly(s));
      assert.equal(
        await answer("/shop/", { "x-beta": "1" }),
        "v1",
        "an abort removes the routes too",
      );
    });

    if (setup.features.tamper)
      it("shows a hand edit as drift, and apply repairs it", async () => {
        const s = state("shop-v2", 25);
        await engine.provider.apply("shop", s);
        await (engine.tamper as NonNullable<EngineUnderTest["tamper"]>)("shop", 100);
        const drift = trafficDrift(servedOf(s), await observed("shop"));
        assert.match(drift ?? "", /weight 25 but 100 served/);
        assert.equal(
          await answer("/shop/", { "x-user": "someone" }),
          "v2",
          "observe told the truth",
        );
        await engine.provider.apply("shop", s);
        await assertServes("shop", s);
      });

    if (setup.features.stopStart)
      it("fails with a typed error while the engine is down, and converges once it is back", async () => {
        await (engine.stop as NonNullable<EngineUnderTest["stop"]>)();
        const s = state("shop-v2", 40);
        const typed = (e: unknown) =>
          e instanceof TrafficProviderError &&
          (e.kind === "unreachable" || e.kind === "timeout") &&
          e.engine === engine.provider.type;
        await assert.rejects(bounded("apply while down", engine.provider.apply("shop", s)), typed);
        await assert.rejects(bounded("observe while down", engine.provider.observe()), typed);
        await (engine.start as NonNullable<EngineUnderTest["start"]>)();
        // Restarted from its original configuration: whatever observe reports is what it serves.
        const after = await observed("shop");
        if (after !== undefined && after.canary === null)
          assert.equal(await answer("/shop/", { "x-user": "someone" }), "v1");
        await bounded("apply after restart", engine.provider.apply("shop", s));
        await assertServes("shop", s);
      });
  });
}
