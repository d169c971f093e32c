/**
 * How many client connections the router accepts at once, so that a flood of idle or half-sent
 * connections cannot take every file descriptor of the process: past the cap Node closes new
 * connections at accept, and the admin API (`/healthz` included), the store and the upstream
 * pools still have descriptors to work with.
 *
 * Node has no getrlimit. It raises its own soft RLIMIT_NOFILE to the hard limit at start, so
 * the figure that matters is the soft limit as the process sees it now: on Linux that is
 * `/proc/self/limits` (one small read at start); elsewhere `ulimit -n` in a child shell, which
 * inherits the raised limit. When neither answers, the fixed ceiling is used as is.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Above this a single event loop cannot serve the connections usefully anyway. */
export const CONNECTION_CEILING = 16_384;

/**
 * Descriptors kept back for everything but client connections: the admin listener and its
 * connections (capped on their own), the store's files (database, WAL, shared memory), health
 * checks, notification and gate calls, stdio and Node's own.
 */
export const FD_RESERVE = 256;

/** The least the default ever is, however low the descriptor limit. */
const FLOOR = 64;

/**
 * The default cap: half of what the reserve leaves, since every client connection being
 * proxied may hold one upstream connection too (upstream pools are bounded separately by
 * `proxy.connectionsPerTarget`), and never above {@link CONNECTION_CEILING}.
 */
export function defaultMaxConnections(softLimit: number | undefined): number {
  if (softLimit === undefined || !Number.isFinite(softLimit)) return CONNECTION_CEILING;
  const budget = Math.floor((softLimit - FD_RESERVE) / 2);
  return Math.max(FLOOR, Math.min(CONNECTION_CEILING, budget));
}

/** The soft open-files limit of this process, or undefined when unknown or unlimited. */
export function openFilesSoftLimit(): number | undefined {
  try {
    const limits = readFileSync("/proc/self/limits", "latin1");
    const m = /^Max open files\s+(\S+)/m.exec(limits);
    if (m !== null) return parseLimit(m[1] as string);
  } catch {
    // Not Linux (or /proc not mounted): ask a shell.
  }
  if (process.platform === "win32") return undefined;
  try {
    const r = spawnSync("sh", ["-c", "ulimit -n"], { encoding: "latin1", timeout: 2_000 });
    if (r.status === 0) return parseLimit(r.stdout.trim());
  } catch {
    // No shell: the ceiling applies.
  }
  return undefined;
}

function parseLimit(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined; // "unlimited"
  const n = Number(text);
  return n > 0 ? n : undefined;
}
