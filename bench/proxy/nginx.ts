/**
 * Peer: Debian's nginx, run in the foreground from a temp prefix with its own config:
 * one worker, no access log, keep-alive upstream pools, and a sticky 10 %/90 % split with
 * `split_clients` on `$http_x_user_id` (MurmurHash2, so not the same users as the Node peers,
 * but the same share).
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processTree } from "./cpu.js";
import { launch, type Proc } from "./procs.js";

/** The nginx binary (it lives in /usr/sbin, often not on a user's PATH), if installed. */
export function findNginx(): string | undefined {
  try {
    return execFileSync("sh", ["-c", "command -v nginx"], { encoding: "utf8" }).trim();
  } catch {
    return existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : undefined;
  }
}

export interface NginxPorts {
  listen: number;
  stable: number;
  canary: number;
}

export function nginxConfig(p: NginxPorts, canaryPercent: number): string {
  return `# Written by bench/proxy/nginx.ts.
worker_processes 1;
daemon off;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  upstream stable { server 127.0.0.1:${p.stable}; keepalive 64; }
  upstream canary { server 127.0.0.1:${p.canary}; keepalive 64; }
  split_clients "\${http_x_user_id}" $variant {
    ${canaryPercent}% canary;
    * stable;
  }
  server {
    listen 127.0.0.1:${p.listen};
    location / {
      proxy_pass http://$variant;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** Starts nginx (master in the foreground; pinning is inherited by its worker). */
export function startNginx(bin: string, dir: string, p: NginxPorts, cpu: number): Proc {
  const prefix = join(dir, "nginx");
  mkdirSync(join(prefix, "tmp"), { recursive: true });
  const conf = join(prefix, "nginx.conf");
  writeFileSync(conf, nginxConfig(p, 10));
  const args = ["-p", `${prefix}/`, "-c", conf, "-e", join(prefix, "error.log")];
  return launch("nginx", bin, args, { cpu });
}

/** Records the worker pids so they are stopped by id too; call once nginx answers. */
export function adoptWorkers(proc: Proc): number[] {
  proc.extraPids = processTree(proc.pid).filter((pid) => pid !== proc.pid);
  return proc.extraPids;
}
