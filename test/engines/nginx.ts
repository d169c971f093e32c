/**
 * A real nginx for tests and benchmarks: its own prefix in a temporary directory (config, pid,
 * error log, temp paths), listening on loopback, in the foreground so the test owns the process.
 * A missing binary or Lua module throws with the install command instead of skipping. The prefix
 * and the process come from the product's starter (`nginx/process.ts`, which the demo uses);
 * this adds what only tests need (`nginx -t`, reloads, the workers' ids).
 *
 * @module
 */

import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  type NginxPrefixOptions,
  type NginxProcess,
  nginxArgs,
  nginxBinary,
  nginxConfPath,
  nginxErrorLog,
  startNginxProcess,
  writeNginxPrefix,
} from "../../src/providers/traffic/nginx/process.js";
import { CONF_FILE, renderNginx } from "../../src/providers/traffic/nginx/render.js";
import { Spec, type SpecInput } from "../../src/spec/schema.js";
import { freeTcpPort } from "../../src/util/ports.js";

export {
  NGINX_INSTALL,
  nginxBinary,
  nginxModuleDir,
} from "../../src/providers/traffic/nginx/process.js";

const run = promisify(execFile);

/** A TCP port free on 127.0.0.1 right now. */
export const freePort = freeTcpPort;

export interface NginxOptions extends Omit<NginxPrefixOptions, "workers"> {
  /** Worker processes (2 by default, so cross-worker state is exercised). */
  workers?: number;
}

/** One nginx under a test's control. */
export class NginxUnderTest {
  readonly dir: string;
  #proc: NginxProcess | undefined;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Writes the configuration into a fresh temporary prefix; nothing runs yet. */
  static async prepare(options: NginxOptions): Promise<NginxUnderTest> {
    const dir = await mkdtemp(join(tmpdir(), "aviary-nginx-"));
    try {
      await writeNginxPrefix(dir, { ...options, workers: options.workers ?? 2 });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return new NginxUnderTest(dir);
  }

  get confPath(): string {
    return nginxConfPath(this.dir);
  }

  #args(...more: string[]): string[] {
    return nginxArgs(this.dir, ...more);
  }

  /** `nginx -t` on the configuration; resolves with its output, rejects with it on failure. */
  async test(): Promise<string> {
    try {
      const { stderr } = await run(nginxBinary(), this.#args("-t", "-g", "daemon off;"));
      return stderr;
    } catch (e) {
      const err = e as { stderr?: string };
      throw new Error(`nginx -t refused the configuration:\n${err.stderr ?? String(e)}`);
    }
  }

  /** Starts nginx in the foreground and waits until `ready` (e.g. a port answers) holds. */
  async start(ready: () => Promise<boolean>): Promise<void> {
    if (this.#proc !== undefined) throw new Error("nginx is already running");
    this.#proc = await startNginxProcess(this.dir, ready);
  }

  /** `nginx -s reload`: the master re-reads the configuration and replaces its workers. */
  async reload(): Promise<void> {
    await run(nginxBinary(), this.#args("-s", "reload"));
  }

  /**
   * Reloads and waits (up to 5 s) until none of the workers from before is left, so what
   * answers afterwards is the new generation.
   */
  async reloadAndSettle(): Promise<void> {
    const before = await this.workers();
    await this.reload();
    const until = Date.now() + 5_000;
    while (Date.now() < until) {
      const now = await this.workers();
      if (now.length > 0 && now.every((pid) => !before.includes(pid))) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(
      `the old workers were still running 5 s after the reload:\n${await this.errorLog()}`,
    );
  }

  /** The master's child processes (workers, and old workers still finishing), from /proc. */
  async workers(): Promise<number[]> {
    const pid = this.#proc?.child.pid;
    if (pid === undefined) return [];
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
    return text.split(/\s+/).filter(Boolean).map(Number);
  }

  /** The master's process id. */
  get pid(): number | undefined {
    return this.#proc?.child.pid;
  }

  /** Stops nginx (fast shutdown) and waits for the master to exit. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    this.#proc = undefined;
    await proc?.stop();
  }

  async errorLog(): Promise<string> {
    return nginxErrorLog(this.dir);
  }

  /** Stops nginx and removes its directory. */
  async close(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** What {@link startAviaryNginx} starts: nginx with Aviary's rendered include, and its addresses. */
export interface AviaryNginx {
  nginx: NginxUnderTest;
  spec: Spec;
  /** Users' listener, `http://127.0.0.1:port`. */
  url: string;
  /** The control server, `http://127.0.0.1:port`. */
  controlUrl: string;
  /** Where the provider keeps its state file. */
  stateDir: string;
  /** The UDP port the access log is sent to (nobody listens unless the test does). */
  logPort: number;
  /** Whether the control server answers. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Renders `services` for nginx on free loopback ports, writes the include next to nginx.conf and
 * starts nginx. `stateDir` may be shared by a second instance (a restart from the state file).
 */
export async function startAviaryNginx(
  services: SpecInput["services"],
  options: { stateDir?: string; logPort?: number; workers?: number; start?: boolean } = {},
): Promise<AviaryNginx> {
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), "aviary-nginx-state-")));
  const [listen, control] = [await freePort(), await freePort()];
  const logPort = options.logPort ?? (await freePort());
  const removeState = () =>
    options.stateDir === undefined
      ? rm(stateDir, { recursive: true, force: true })
      : Promise.resolve();
  let nginx: NginxUnderTest | undefined;
  let spec: Spec;
  const controlUrl = `http://127.0.0.1:${control}`;
  const ready = async () => {
    try {
      const res = await fetch(`${controlUrl}/aviary/v1/services`);
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  };
  // Whatever fails before nginx is up (a bad spec, a refused render) leaves no directory behind.
  try {
    spec = Spec.parse({
      listen: `127.0.0.1:${listen}`,
      dataplane: {
        engine: "nginx",
        nginx: { control: `127.0.0.1:${control}`, stateDir },
        logs: { listen: `udp://127.0.0.1:${logPort}` },
      },
      services,
    });
    const rendered = renderNginx(spec);
    const files = Object.fromEntries(rendered.files.map((f) => [f.name, f.content]));
    nginx = await NginxUnderTest.prepare({
      http: `include ${CONF_FILE};`,
      files,
      workers: options.workers ?? 2,
    });
    if (options.start !== false) await nginx.start(ready);
  } catch (e) {
    await nginx?.close();
    await removeState();
    throw e;
  }
  const started = nginx;
  return {
    nginx: started,
    spec,
    url: `http://127.0.0.1:${listen}`,
    controlUrl,
    stateDir,
    logPort,
    ready,
    close: async () => {
      await started.close();
      await removeState();
    },
  };
}
