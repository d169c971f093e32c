/**
 * A real nginx for tests and benchmarks: its own prefix in a temporary directory (config, pid,
 * error log, temp paths), listening on loopback, in the foreground so the test owns the process.
 * A missing binary or Lua module throws with the install command instead of skipping.
 *
 * @module
 */

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CONF_FILE, renderNginx } from "../../src/providers/traffic/nginx/render.js";
import { Spec, type SpecInput } from "../../src/spec/schema.js";

const run = promisify(execFile);

export const NGINX_INSTALL = "apt-get install -y nginx libnginx-mod-http-lua";

/** Where Debian keeps nginx's dynamic modules. */
const MODULE_DIRS = ["/usr/lib/nginx/modules", "/usr/share/nginx/modules"];

/** The nginx binary, or a thrown error with the install command. */
export function nginxBinary(): string {
  for (const dir of ["/usr/sbin", "/usr/local/sbin", "/usr/bin"]) {
    const path = join(dir, "nginx");
    if (existsSync(path)) return path;
  }
  throw new Error(`nginx is not installed: ${NGINX_INSTALL}`);
}

/** The directory holding the Lua module (and NDK), or a thrown error with the install command. */
export function nginxModuleDir(): string {
  for (const dir of MODULE_DIRS)
    if (
      existsSync(join(dir, "ngx_http_lua_module.so")) &&
      existsSync(join(dir, "ndk_http_module.so"))
    )
      return dir;
  throw new Error(`nginx's Lua module is not installed: ${NGINX_INSTALL}`);
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

export interface NginxOptions {
  /** Text inside `http { }` (the rendered include is written next to it and included). */
  http: string;
  /** Extra files written into the prefix directory, by name. */
  files?: Record<string, string>;
  /** Worker processes (2 by default, so cross-worker state is exercised). */
  workers?: number;
}

/** One nginx under a test's control. */
export class NginxUnderTest {
  readonly dir: string;
  #child: ChildProcess | undefined;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Writes the configuration into a fresh temporary prefix; nothing runs yet. */
  static async prepare(options: NginxOptions): Promise<NginxUnderTest> {
    nginxBinary();
    const modules = nginxModuleDir();
    const dir = await mkdtemp(join(tmpdir(), "aviary-nginx-"));
    // Run as root, nginx's workers are `nobody`: they must reach the temp paths inside.
    await chmod(dir, 0o755);
    await mkdir(join(dir, "logs"));
    await mkdir(join(dir, "temp"));
    for (const [name, content] of Object.entries(options.files ?? {}))
      await writeFile(join(dir, name), content);
    const temp = (what: string) => `${what}_temp_path ${join(dir, "temp", what)};`;
    const conf = [
      `load_module ${join(modules, "ndk_http_module.so")};`,
      `load_module ${join(modules, "ngx_http_lua_module.so")};`,
      `worker_processes ${options.workers ?? 2};`,
      `pid ${join(dir, "nginx.pid")};`,
      `error_log ${join(dir, "logs", "error.log")} warn;`,
      "events { worker_connections 1024; }",
      "http {",
      `  access_log off;`,
      `  ${temp("client_body")} ${temp("proxy")} ${temp("fastcgi")} ${temp("uwsgi")} ${temp("scgi")}`,
      options.http,
      "}",
      "",
    ].join("\n");
    await writeFile(join(dir, "nginx.conf"), conf);
    return new NginxUnderTest(dir);
  }

  get confPath(): string {
    return join(this.dir, "nginx.conf");
  }

  #args(...more: string[]): string[] {
    return ["-p", this.dir, "-c", this.confPath, ...more];
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
    if (this.#child !== undefined) throw new Error("nginx is already running");
    let stderr = "";
    const child = spawn(nginxBinary(), this.#args("-g", "daemon off;"), {
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    this.#child = child;
    let exited = false;
    child.once("exit", () => {
      exited = true;
    });
    const until = Date.now() + 5_000;
    while (Date.now() < until) {
      if (exited) {
        this.#child = undefined;
        throw new Error(`nginx exited at start:\n${stderr}${await this.errorLog()}`);
      }
      if (await ready().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    await this.stop();
    throw new Error(`nginx did not become ready within 5 s:\n${stderr}${await this.errorLog()}`);
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
    const pid = this.#child?.pid;
    if (pid === undefined) return [];
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
    return text.split(/\s+/).filter(Boolean).map(Number);
  }

  /** The master's process id. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Stops nginx (fast shutdown) and waits for the master to exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  async errorLog(): Promise<string> {
    return readFile(join(this.dir, "logs", "error.log"), "utf8").catch(() => "");
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
