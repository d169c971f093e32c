/**
 * The traffic provider conformance suite against a fleet of two `aviary router`s following a
 * control plane over real HTTP (the real fleet routes, auth and bodies). Users' requests go to
 * the first router; the second one is there so that "served" means served by every live
 * router. Stop ends both routers (they say they are leaving); start brings them back on the
 * same ports and data directories, serving the state they saved until the control plane
 * answers.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { startControlPlane, startRouter } from "../../../../test/fleet-fixtures.js";
import { MemoryFleetBoard } from "../../../fleet/board.js";
import type { FleetRouter } from "../../../fleet/fleet-router.js";
import { Spec } from "../../../spec/schema.js";
import { openSqliteStore } from "../../../store/sqlite/sqlite-store.js";
import { systemClock } from "../../../util/clock.js";
import { runTrafficConformance } from "../conformance.js";
import { FleetTrafficProvider } from "./index.js";

const cleanup: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

runTrafficConformance({
  name: "fleet",
  features: { dataPath: true, tamper: false, stopStart: true },
  async start() {
    const spec = Spec.parse({});
    const board = new MemoryFleetBoard({ proxy: spec.proxy, metricsWindowMs: 60_000 });
    const dir = mkdtempSync(join(tmpdir(), "aviary-fleet-conf-"));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    // The routers' reports in a real store, as aviary serve keeps them.
    const reports = openSqliteStore(join(dir, "aviary.db"));
    cleanup.push(() => reports.close());
    const cp = await startControlPlane({
      board,
      reports,
      clock: systemClock,
      reportIntervalMs: 200,
    });
    cleanup.push(() => cp.close());
    const provider = new FleetTrafficProvider({
      board,
      reports,
      clock: systemClock,
      // Routers report every 200 ms; live within 1.5 s leaves room for a loaded test machine.
      reportIntervalMs: 500,
      timeoutMs: 5_000,
    });
    let routers: FleetRouter[] = [];
    let ports: number[] = [0, 0];
    const up = async () => {
      routers = [
        await startRouter({
          id: "r1",
          controls: [cp.url],
          dataDir: join(dir, "r1"),
          port: ports[0] ?? 0,
        }),
        await startRouter({
          id: "r2",
          controls: [cp.url],
          dataDir: join(dir, "r2"),
          port: ports[1] ?? 0,
        }),
      ];
    };
    // Up means serving and heard by the control plane, as a started engine answers at once.
    const heard = async () => {
      const until = Date.now() + 10_000;
      for (;;) {
        const live = (await reports.routerReports()).filter(
          (r) => Date.now() - r.at < 2_000 && !(r.windows as { final: boolean }).final,
        );
        if (live.length === routers.length || Date.now() > until) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const down = async () => {
      for (const r of routers) await r.close();
    };
    await up();
    // Routers listen once they have a state: publish the empty spec's, then learn the ports.
    await board.configure([], new Map());
    for (const r of routers) await r.serving(5_000);
    await heard();
    ports = routers.map((r) => r.listenAddress?.port ?? 0);
    return {
      provider,
      url: `http://127.0.0.1:${ports[0]}`,
      stop: down,
      start: async () => {
        await up();
        for (const r of routers) await r.serving(5_000);
        await heard();
      },
      close: down,
    };
  },
});
