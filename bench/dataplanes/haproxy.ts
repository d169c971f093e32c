/**
 * Bare HAProxy for `bench:dataplanes`: a hand-written config doing what Aviary's split does, and
 * nothing else — one thread, no logging, keep-alive to both upstreams, and a sticky 90/10 split
 * on `x-user-id` (`balance hdr(x-user-id)` with map-based hashing over weights 90 and 10: each
 * user id always lands on the same server, and a tenth of the ids on the canary; not the same
 * users as Aviary's murmur3 buckets, but the same share). Started in the foreground (`-db`) from
 * a temp dir, so it is stopped by pid like every other process of the benchmark.
 *
 * @module
 */

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launch, type Proc } from "../proxy/procs.js";

/** The haproxy binary (it lives in /usr/sbin, often not on a user's PATH), if installed. */
export function findHaproxy(): string | undefined {
  try {
    return execFileSync("sh", ["-c", "command -v haproxy"], { encoding: "utf8" }).trim();
  } catch {
    return existsSync("/usr/sbin/haproxy") ? "/usr/sbin/haproxy" : undefined;
  }
}

export function haproxyVersion(bin: string): string {
  const r = spawnSync(bin, ["-v"], { encoding: "utf8" });
  return (r.stdout.split("\n")[0] ?? "").replace(/^HAProxy version /, "").trim();
}

export interface SplitPorts {
  listen: number;
  stable: number;
  canary: number;
}

export function haproxyConfig(p: SplitPorts, canaryPercent: number): string {
  return `# Written by bench/dataplanes/haproxy.ts.
global
  nbthread 1
  maxconn 8192

defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s

frontend bench
  bind 127.0.0.1:${p.listen}
  default_backend split

backend split
  # Sticky on the user id: the hash of x-user-id picks the server, by weight.
  balance hdr(x-user-id)
  hash-type map-based
  http-reuse always
  server stable 127.0.0.1:${p.stable} weight ${100 - canaryPercent}
  server canary 127.0.0.1:${p.canary} weight ${canaryPercent}
`;
}

/** Writes the config under `dir` and starts haproxy in the foreground. */
export function startHaproxy(bin: string, dir: string, p: SplitPorts, cpu: number): Proc {
  const home = join(dir, "haproxy");
  mkdirSync(home, { recursive: true });
  const conf = join(home, "haproxy.cfg");
  writeFileSync(conf, haproxyConfig(p, 10));
  return launch("haproxy", bin, ["-db", "-f", conf], { cpu, cwd: home });
}
