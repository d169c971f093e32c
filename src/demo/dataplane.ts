/**
 * The demo's data plane when a real engine carries the users' traffic (`aviary demo
 * --dataplane haproxy|nginx`): the spec's `dataplane` section with every file and socket inside
 * the demo's data directory and every port on loopback, and the engine started from the
 * rendered files as a child process the demo stops at the end. Aviary then only decides; the
 * analysis judges from the engine's access log.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startHaproxyProcess, writeHaproxyFiles } from "../providers/traffic/haproxy/process.js";
import { renderHaproxy } from "../providers/traffic/haproxy/render.js";
import { startNginxProcess, writeNginxPrefix } from "../providers/traffic/nginx/process.js";
import { CONF_FILE, renderNginx } from "../providers/traffic/nginx/render.js";
import type { DataplaneSettings } from "../spec/dataplane.js";
import type { Spec } from "../spec/schema.js";
import { formatListenAddress, parseListenAddress } from "../util/address.js";
import { freeTcpPort, freeUdpPort } from "../util/ports.js";

export const DEMO_ENGINES = ["embedded", "haproxy", "nginx"] as const;
export type DemoEngine = (typeof DEMO_ENGINES)[number];

/** How the narration names each engine. */
export const ENGINE_NAMES: Record<DemoEngine, string> = {
  embedded: "Aviary's embedded router",
  haproxy: "HAProxy",
  nginx: "nginx",
};

/** A running engine: stopped by the demo's close. */
export interface EngineProcess {
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * The `dataplane` section for `engine` (files under `dataDir`, free loopback ports) and the
 * users' listen address: `listen` as given, or a free port when it asks for port 0 (the engine's
 * configuration has to name its port before it starts).
 */
export async function demoDataplane(
  engine: Exclude<DemoEngine, "embedded">,
  dataDir: string,
  listen: string,
): Promise<{ dataplane: DataplaneSettings; listen: string }> {
  const at = parseListenAddress(listen);
  if (at === undefined) throw new Error(`invalid listen address ${listen}`);
  const port = at.port === 0 ? await freeTcpPort() : at.port;
  const logs = { listen: `udp://127.0.0.1:${await freeUdpPort()}` };
  const users = formatListenAddress({ ...at, port });
  const dir = join(dataDir, engine);
  if (engine === "haproxy")
    return {
      listen: users,
      dataplane: {
        engine,
        haproxy: {
          runtimeApi: `unix:${join(dir, "admin.sock")}`,
          mapsDir: join(dir, "maps"),
          targetSlots: 2,
          timeout: "2s",
        },
        logs,
      },
    };
  return {
    listen: users,
    dataplane: {
      engine,
      nginx: {
        control: `127.0.0.1:${await freeTcpPort()}`,
        stateDir: join(dir, "state"),
        targetSlots: 2,
        timeout: "2s",
      },
      logs,
    },
  };
}

/**
 * Renders the spec (from {@link demoDataplane}) for its engine, writes the files into the
 * engine's folder of the data directory and starts it; resolves once it serves.
 */
export async function startEngine(spec: Spec, dataDir: string): Promise<EngineProcess> {
  const d = spec.dataplane;
  const dir = join(dataDir, d.engine);
  if (d.engine === "haproxy" && d.haproxy !== undefined) {
    const socketPath = d.haproxy.runtimeApi.slice("unix:".length);
    mkdirSync(dir, { recursive: true });
    const args = writeHaproxyFiles(renderHaproxy(spec), {
      dir,
      mapsDir: d.haproxy.mapsDir,
      socketPath,
    });
    const proc = await startHaproxyProcess(args, dir);
    return { pid: proc.child.pid, stop: proc.stop };
  }
  if (d.engine === "nginx" && d.nginx !== undefined) {
    mkdirSync(d.nginx.stateDir, { recursive: true });
    const rendered = renderNginx(spec);
    await writeNginxPrefix(dir, {
      http: `include ${CONF_FILE};`,
      files: Object.fromEntries(rendered.files.map((f) => [f.name, f.content])),
      // One worker is enough for the demo's rate and leaves the cores to the story.
      workers: 1,
    });
    const control = `http://${d.nginx.control}/aviary/v1/services`;
    const proc = await startNginxProcess(dir, async () => {
      const res = await fetch(control);
      await res.arrayBuffer();
      return res.status === 200;
    });
    return { pid: proc.child.pid, stop: proc.stop };
  }
  throw new Error(`the demo cannot start engine ${d.engine}`);
}
