/**
 * The HAProxy and the nginx that Aviary drives, as `bench:dataplanes` entries. Each is set up the
 * way `aviary serve` sets it up (`src/demo/dataplane.ts` does the same for the demo): the spec's
 * one service `bench` rendered by the product's renderer, the engine started from those files
 * by the product's starter, the provider from the product's factory function configuring it and
 * applying weight 10 with header stickiness, and the access log ON, sent to a real Aviary log
 * listener that records every line into a real MetricsRegistry. So the figure includes what the
 * engine pays to log each request (the listener itself runs in the orchestrator, on the load's
 * CPU, not on the engine's).
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { MetricsRegistry } from "../../src/dataplane/metrics/registry.js";
import type { Recorder } from "../../src/dataplane/metrics/types.js";
import { createHaproxyProvider } from "../../src/providers/traffic/haproxy/index.js";
import {
  startHaproxyProcess,
  writeHaproxyFiles,
} from "../../src/providers/traffic/haproxy/process.js";
import { renderHaproxy } from "../../src/providers/traffic/haproxy/render.js";
import { type LogListener, startLogListener } from "../../src/providers/traffic/logs/listener.js";
import { createNginxProvider } from "../../src/providers/traffic/nginx/index.js";
import { startNginxProcess, writeNginxPrefix } from "../../src/providers/traffic/nginx/process.js";
import { CONF_FILE, renderNginx } from "../../src/providers/traffic/nginx/render.js";
import type { TrafficProvider } from "../../src/providers/traffic/provider.js";
import type { TrafficState } from "../../src/rollout/types.js";
import { Spec } from "../../src/spec/schema.js";
import { systemClock } from "../../src/util/clock.js";
import { silentLogger } from "../../src/util/log.js";
import { freeTcpPort } from "../../src/util/ports.js";
import { processTree } from "../proxy/cpu.js";
import { type Proc, pinningEnabled } from "../proxy/procs.js";
import type { DrivenEngine, EngineContext, RunningEngine } from "./engines.js";

/** The one service every driven engine serves; its name is also the stickiness group. */
export const SERVICE = "bench";
const STABLE = "v1";
const CANARY = "v2";

/** The state the provider is told: v1 and v2, `weight` % to v2, no routes, no mirror. */
function state(ctx: EngineContext, weight: number): TrafficState {
  return {
    stable: { version: STABLE, targets: [`http://127.0.0.1:${ctx.stablePort}`] },
    canary: { version: CANARY, targets: [`http://127.0.0.1:${ctx.canaryPort}`] },
    weight,
    headerRoutes: [],
    mirror: null,
  };
}

/** The spec `aviary serve` would read: one service on `/`, sticky on x-user-id. */
function specFor(ctx: EngineContext, dataplane: Record<string, unknown>): Spec {
  return Spec.parse({
    listen: `127.0.0.1:${ctx.listen}`,
    dataplane,
    services: [
      {
        name: SERVICE,
        match: { pathPrefix: "/" },
        stable: { version: STABLE, targets: [`http://127.0.0.1:${ctx.stablePort}`] },
        stickiness: { header: "x-user-id" },
      },
    ],
  });
}

/** A real listener on a free loopback port, recording into a real MetricsRegistry. */
async function logListener(): Promise<{ listener: LogListener; listen: string }> {
  const metrics = new MetricsRegistry({ clock: systemClock });
  // Only the versions the bench serves are known, as KnownVersions would answer.
  const known = new Map<string, Recorder>();
  for (const version of [STABLE, CANARY])
    for (const role of ["stable", "canary"] as const)
      known.set(`${version}/${role}`, metrics.recorder(SERVICE, version, role));
  const listener = await startLogListener({
    listen: "udp://127.0.0.1:0",
    resolve: (service, version, role) =>
      service === SERVICE ? known.get(`${version}/${role}`) : undefined,
    log: silentLogger(),
  });
  return { listener, listen: `udp://127.0.0.1:${listener.address.port}` };
}

/** Pins every process and thread of the engine's tree, which the product starter spawned unpinned. */
function pinTree(pid: number, cpu: number): void {
  if (!pinningEnabled()) return;
  for (const p of processTree(pid))
    execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(p)], { stdio: "ignore" });
}

/** The benchmark's view of a process the product's starter owns (CPU by pid; stopped by it). */
function asProc(name: string, child: import("node:child_process").ChildProcess): Proc {
  const proc: Proc = {
    name,
    child,
    pid: child.pid ?? -1,
    extraPids: [],
    exited: new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
      else child.once("exit", (code) => resolve(code));
    }),
    done: false,
    stdout: "",
    stderr: "",
  };
  void proc.exited.then(() => {
    proc.done = true;
  });
  return proc;
}

/**
 * What both engines share once started: configure the service (stable only), then apply
 * weight 10 through `apply`, as a rollout's first step would.
 */
async function drive(
  provider: TrafficProvider,
  spec: Spec,
  ctx: EngineContext,
): Promise<(weight: number) => Promise<void>> {
  await provider.configure(spec.services, new Map());
  await provider.apply(SERVICE, state(ctx, 10));
  return (weight) => provider.apply(SERVICE, state(ctx, weight));
}

function driven(
  key: DrivenEngine["key"],
  label: string,
  boot: (
    ctx: EngineContext,
    logs: string,
  ) => Promise<{ proc: Proc; provider: TrafficProvider; spec: Spec; stop(): Promise<void> }>,
): DrivenEngine {
  let apply: ((weight: number) => Promise<void>) | undefined;
  let listener: LogListener | undefined;
  return {
    key,
    label,
    async start(ctx): Promise<RunningEngine> {
      const logs = await logListener();
      listener = logs.listener;
      const e = await boot(ctx, logs.listen);
      pinTree(e.proc.pid, ctx.cpu);
      apply = await drive(e.provider, e.spec, ctx);
      return {
        url: `http://127.0.0.1:${ctx.listen}/`,
        proc: e.proc,
        stop: async () => {
          await e.provider.close();
          await e.stop();
          await logs.listener.close();
        },
      };
    },
    async setWeight(weight) {
      if (apply === undefined) throw new Error(`${label} was not started`);
      await apply(weight);
    },
    logLines: () => listener?.stats(),
  };
}

export const DRIVEN_HAPROXY = driven(
  "haproxy",
  "Aviary-driven HAProxy (provider, logging on)",
  async (ctx, logs) => {
    const socketPath = join(ctx.dir, "admin.sock");
    const mapsDir = join(ctx.dir, "maps");
    const settings = { runtimeApi: `unix:${socketPath}`, mapsDir, targetSlots: 2, timeout: "2s" };
    const spec = specFor(ctx, { engine: "haproxy", haproxy: settings, logs: { listen: logs } });
    const args = writeHaproxyFiles(renderHaproxy(spec), { dir: ctx.dir, mapsDir, socketPath });
    const hp = await startHaproxyProcess(args, ctx.dir);
    const haproxy = spec.dataplane.haproxy;
    if (haproxy === undefined) throw new Error("the bench spec lost its haproxy settings");
    const provider = createHaproxyProvider(haproxy, { log: silentLogger(), clock: systemClock });
    return { proc: asProc("driven haproxy", hp.child), provider, spec, stop: hp.stop };
  },
);

export const DRIVEN_NGINX = driven(
  "nginx",
  "Aviary-driven nginx (provider, logging on)",
  async (ctx, logs) => {
    const settings = {
      control: `127.0.0.1:${await freeTcpPort()}`,
      stateDir: join(ctx.dir, "state"),
      targetSlots: 2,
      timeout: "2s",
    };
    mkdirSync(settings.stateDir, { recursive: true });
    const spec = specFor(ctx, { engine: "nginx", nginx: settings, logs: { listen: logs } });
    const rendered = renderNginx(spec);
    await writeNginxPrefix(ctx.dir, {
      http: `include ${CONF_FILE};`,
      files: Object.fromEntries(rendered.files.map((f) => [f.name, f.content])),
      // One worker, as the bare nginx has.
      workers: 1,
    });
    const control = `http://${settings.control}/aviary/v1/services`;
    const ngx = await startNginxProcess(ctx.dir, async () => {
      const res = await fetch(control);
      await res.arrayBuffer();
      return res.status === 200;
    });
    const nginx = spec.dataplane.nginx;
    if (nginx === undefined) throw new Error("the bench spec lost its nginx settings");
    const provider = createNginxProvider(nginx, { log: silentLogger(), clock: systemClock });
    const proc = asProc("driven nginx", ngx.child);
    proc.extraPids = processTree(proc.pid).filter((pid) => pid !== proc.pid);
    return { proc, provider, spec, stop: ngx.stop };
  },
);
