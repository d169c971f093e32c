/**
 * Starting a real nginx around the rendered include, for the demo and the tests: its own prefix
 * directory (main configuration with the Lua module's `load_module` lines, pid, error log, temp
 * paths), in the foreground (`-g 'daemon off;'`) so the caller owns the process. Not how
 * production runs nginx (the user's nginx.conf includes the rendered file); the demo must not
 * need a system nginx set up.
 *
 * @module
 */

import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { spawnEngine } from "../engine-process.js";

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

export interface NginxPrefixOptions {
  /** Text inside `http { }` (e.g. the rendered include's `include` line). */
  http: string;
  /** Extra files written into the prefix directory, by name. */
  files?: Record<string, string>;
  /** Worker processes. */
  workers: number;
}

/** Writes nginx.conf, the extra files and the log and temp directories into `dir` (which exists). */
export async function writeNginxPrefix(dir: string, options: NginxPrefixOptions): Promise<void> {
  nginxBinary();
  const modules = nginxModuleDir();
  // Run as root, nginx's workers are `nobody`: they must reach the temp paths inside.
  await chmod(dir, 0o755);
  await mkdir(join(dir, "logs"), { recursive: true });
  await mkdir(join(dir, "temp"), { recursive: true });
  for (const [name, content] of Object.entries(options.files ?? {}))
    await writeFile(join(dir, name), content);
  const temp = (what: string) => `${what}_temp_path ${join(dir, "temp", what)};`;
  const conf = [
    `load_module ${join(modules, "ndk_http_module.so")};`,
    `load_module ${join(modules, "ngx_http_lua_module.so")};`,
    `worker_processes ${options.workers};`,
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
  await writeFile(nginxConfPath(dir), conf);
}

export function nginxConfPath(dir: string): string {
  return join(dir, "nginx.conf");
}

/** The command-line arguments for the nginx in `dir`, then `more`. */
export function nginxArgs(dir: string, ...more: string[]): string[] {
  return ["-p", dir, "-c", nginxConfPath(dir), ...more];
}

/** The error log so far ("" before there is one). */
export function nginxErrorLog(dir: string): Promise<string> {
  return readFile(join(dir, "logs", "error.log"), "utf8").catch(() => "");
}

/** One nginx master started by {@link startNginxProcess}. */
export interface NginxProcess {
  readonly child: ChildProcess;
  /** Fast shutdown (SIGTERM, SIGKILL after 5 s); resolves once the master has exited. */
  stop(): Promise<void>;
}

/**
 * Starts the nginx in `dir` in the foreground and waits (up to 5 s) until `ready` (e.g. its
 * control server answers) holds; an nginx that exits or is not ready in time is stopped and
 * the error names what it wrote.
 */
export async function startNginxProcess(
  dir: string,
  ready: () => Promise<boolean>,
): Promise<NginxProcess> {
  const { child, output, gone, stop } = spawnEngine(
    nginxBinary(),
    nginxArgs(dir, "-g", "daemon off;"),
    { pipe: ["stderr"] },
  );
  const until = Date.now() + 5_000;
  while (Date.now() < until) {
    if (gone()) throw new Error(`nginx exited at start:\n${output()}${await nginxErrorLog(dir)}`);
    if (await ready().catch(() => false)) return { child, stop };
    await new Promise((r) => setTimeout(r, 25));
  }
  await stop();
  throw new Error(`nginx did not become ready within 5 s:\n${output()}${await nginxErrorLog(dir)}`);
}
