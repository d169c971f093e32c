/**
 * What `bench:dataplanes` measures. Two kinds of entry, run interleaved with the same load:
 *
 * - bare engines (HAProxy, nginx) with a hand-written 90/10 sticky split and no logging: what
 *   the engine costs by itself;
 * - engines serving Aviary's split: the embedded router (`aviary serve`), and the HAProxy and
 *   nginx that Aviary drives through their traffic providers (`src/providers/traffic/haproxy`,
 *   `…/nginx`), set up in `driven.ts` as `aviary serve` sets them up, access log on.
 *
 * @module
 */

import type { LogLineCounts } from "../../src/providers/traffic/logs/listener.js";
import type { Proc } from "../proxy/procs.js";
import { DRIVEN_HAPROXY, DRIVEN_NGINX } from "./driven.js";

export type BareKey = "haproxy" | "nginx";
export type DrivenKey = "haproxy" | "nginx";

/** The upstreams every entry splits over, and a directory of its own to write into. */
export interface EngineContext {
  /** A fresh temp directory for this engine's config, logs and pid files. */
  dir: string;
  /** The port to listen on (127.0.0.1). */
  listen: number;
  stablePort: number;
  canaryPort: number;
  /** The CPU the engine is pinned to when pinning is on. */
  cpu: number;
}

/** An engine started and answering: where to send load and whose CPU to read. */
export interface RunningEngine {
  url: string;
  /** The root process; its whole tree (e.g. nginx's workers) is counted. */
  proc: Proc;
  stop(): Promise<void>;
}

/**
 * An engine Aviary drives through its TrafficProvider. `start` configures one service `bench`
 * (stable v1 on the stable port, canary v2 on the canary port, weight 10, sticky on
 * `x-user-id`, access log in Aviary's contract) through the provider and resolves once it serves
 * it. `setWeight` applies a new weight through the provider's `apply` and resolves when that
 * call returns: the switch measurement then times how long until a probe request sees the new
 * split (switchP99Ms), while wrk runs, and counts the requests that failed (failedRequests).
 * `logLines` is what the engine's log listener received (recorded, malformed, …).
 */
export interface DrivenEngine {
  key: DrivenKey;
  label: string;
  start(ctx: EngineContext): Promise<RunningEngine>;
  setWeight(weight: number): Promise<void>;
  logLines(): LogLineCounts | undefined;
}

/** The driven engines, in the order they are measured. */
export const DRIVEN_ENGINES: DrivenEngine[] = [DRIVEN_HAPROXY, DRIVEN_NGINX];

export const BARE_LABELS: Record<BareKey, string> = {
  haproxy: "bare HAProxy (balance hdr, 90/10)",
  nginx: "bare nginx (split_clients, 90/10)",
};
export const EMBEDDED_LABEL = "Aviary embedded router (aviary serve)";
