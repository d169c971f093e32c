/**
 * What is read around every measured run, wrk or paced: the proxy's and the upstreams' CPU
 * (/proc/<pid>/stat), per-core busy time and the load of processes that are not ours
 * (/proc/stat), and how many requests each upstream counted (their `/__count`).
 *
 * @module
 */

import { performance } from "node:perf_hooks";
import {
  busySeconds,
  coreBusy,
  coreTimes,
  cpuSeconds,
  processTree,
  selfAndReapedSeconds,
} from "./cpu.js";
import { upstreamCount } from "./probe.js";
import { sleep } from "./procs.js";

export interface Sample<T> {
  result: T;
  /** CPU seconds of the proxy's processes during the run; null for direct. */
  proxyCpuS: number | null;
  /** CPU seconds of both upstream processes during the run. */
  upstreamCpuS: number;
  /** Requests the stable and canary upstreams counted during the run. */
  stable: number;
  canary: number;
  /** Busy % per CPU during the run. */
  busy: number[];
  /**
   * CPU used during the run by processes that are not part of the benchmark, in % of one
   * CPU: all cores' busy time minus proxy, upstreams, this orchestrator and its reaped
   * children (wrk, the paced generator).
   */
  otherCpuPct: number;
}

export interface Upstreams {
  pids: number[];
  stableOrigin: string;
  canaryOrigin: string;
}

/** Runs `fn` (which starts and awaits wrk or the paced generator) and samples around it. */
export async function sampleAround<T>(
  proxyPid: number | undefined,
  up: Upstreams,
  fn: () => Promise<T>,
): Promise<Sample<T>> {
  const stable0 = await upstreamCount(up.stableOrigin);
  const canary0 = await upstreamCount(up.canaryOrigin);
  const pids = proxyPid === undefined ? [] : processTree(proxyPid);
  const proxy0 = pids.length > 0 ? cpuSeconds(pids) : null;
  const up0 = cpuSeconds(up.pids);
  const self0 = selfAndReapedSeconds();
  const cores0 = coreTimes();
  const t0 = performance.now();
  const result = await fn();
  const wallS = (performance.now() - t0) / 1000;
  const cores1 = coreTimes();
  const self1 = selfAndReapedSeconds();
  const up1 = cpuSeconds(up.pids);
  const proxy1 = pids.length > 0 ? cpuSeconds(pids) : null;
  const stable1 = await upstreamCount(up.stableOrigin);
  const canary1 = await upstreamCount(up.canaryOrigin);
  const proxyCpuS = proxy0 === null || proxy1 === null ? null : proxy1 - proxy0;
  const ours = (proxyCpuS ?? 0) + (up1 - up0) + (self1 - self0);
  return {
    result,
    proxyCpuS,
    upstreamCpuS: up1 - up0,
    stable: stable1 - stable0,
    canary: canary1 - canary0,
    busy: coreBusy(cores0, cores1),
    otherCpuPct: Math.max(0, (100 * (busySeconds(cores0, cores1) - ours)) / wallS),
  };
}

/** Busy % of the whole machine (summed over cores) over `ms` while the benchmark is idle. */
export async function backgroundLoad(ms = 1000): Promise<number> {
  const c0 = coreTimes();
  const self0 = selfAndReapedSeconds();
  await sleep(ms);
  const own = selfAndReapedSeconds() - self0;
  return Math.max(0, (100 * (busySeconds(c0, coreTimes()) - own)) / (ms / 1000));
}
