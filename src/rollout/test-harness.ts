/**
 * A controller on a manual clock, a real SQLite file and the no-op router, for the rollout
 * tests: time moves only when a test says so.
 *
 * @module
 */

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "node:test";
import { EventHub } from "../events/hub.js";
import { NoopTrafficProvider } from "../providers/traffic/noop/index.js";
import { Spec, type SpecInput } from "../spec/schema.js";
import { openSqliteStore } from "../store/sqlite/sqlite-store.js";
import type { Store } from "../store/store.js";
import { ManualClock } from "../util/clock.js";
import { silentLogger } from "../util/log.js";
import { Controller, type ControllerOptions } from "./controller.js";
import type { GateCaller } from "./gate-poller.js";
import type { RolloutEvent } from "./types.js";

export const V1 = { version: "v1", targets: ["http://127.0.0.1:9001"] };
export const V2 = { version: "v2", targets: ["http://127.0.0.1:9002"] };
export const V3 = { version: "v3", targets: ["http://127.0.0.1:9003"] };

export type ServiceInput = NonNullable<SpecInput["services"]>[number];

export function shop(extra: Partial<ServiceInput> = {}): ServiceInput {
  return {
    name: "shop",
    match: { pathPrefix: "/shop" },
    stable: V1,
    strategy: {
      steps: [
        { setWeight: 5 },
        { pause: { duration: "1m" } },
        { setWeight: 25 },
        { pause: {} },
        { setWeight: 50 },
        { setWeight: 100 },
      ],
    },
    ...extra,
  };
}

export interface Harness {
  clock: ManualClock;
  router: NoopTrafficProvider;
  store: Store;
  controller: Controller;
  events: RolloutEvent[];
  file: string;
  /** Lets queued work (promise chains) run, then moves the clock. */
  advance(ms: number): Promise<void>;
  weight(): number;
  canary(): string | null;
  stable(): string;
}

/** Harnesses still running; each is stopped after its test. */
export const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.controller.stop();
    await h.store.close();
  }
});

export const settle = () => new Promise((r) => setImmediate(r));

export async function harness(
  services: ServiceInput[],
  opts: {
    file?: string;
    clock?: ManualClock;
    tickMs?: number;
    gateCaller?: GateCaller;
    faults?: ControllerOptions["faults"];
    validate?: ControllerOptions["validate"];
    split?: ControllerOptions["split"];
    /** The spec applied before this start (what a new leader reads from the store). */
    previous?: ServiceInput[];
  } = {},
): Promise<Harness> {
  const file = opts.file ?? join(mkdtempSync(join(tmpdir(), "aviary-ctl-")), "aviary.db");
  const clock = opts.clock ?? new ManualClock(Date.UTC(2026, 0, 1));
  const router = new NoopTrafficProvider();
  const store = openSqliteStore(file);
  const events: RolloutEvent[] = [];
  const hub = new EventHub();
  hub.subscribe((m) => {
    if (m.kind === "event") events.push(m.event);
  });
  const controller = new Controller({
    store,
    router,
    clock,
    log: silentLogger(),
    tickMs: opts.tickMs ?? 1_000,
    hub,
    ...(opts.gateCaller ? { gateCaller: opts.gateCaller } : {}),
    ...(opts.faults ? { faults: opts.faults } : {}),
    ...(opts.validate ? { validate: opts.validate } : {}),
    ...(opts.split ? { split: opts.split } : {}),
  });
  await controller.start(
    Spec.parse({ services }).services,
    [],
    "start",
    opts.previous && Spec.parse({ services: opts.previous }).services,
  );
  const h: Harness = {
    clock,
    router,
    store,
    controller,
    events,
    file,
    async advance(ms) {
      // Step through time a second at a time so ticks and timers interleave as they would.
      for (let left = ms; left > 0; left -= 1000) {
        clock.advance(Math.min(1000, left));
        for (let i = 0; i < 5; i++) await settle();
      }
      for (let i = 0; i < 5; i++) await settle();
    },
    weight: () => {
      const s = router.states.get("shop");
      return s?.canary ? s.weight : 0;
    },
    canary: () => router.states.get("shop")?.canary?.version ?? null,
    stable: () => router.states.get("shop")?.stable.version as string,
  };
  open.push(h);
  return h;
}
