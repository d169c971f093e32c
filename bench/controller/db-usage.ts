/**
 * What the Postgres server of a `--store postgres` run uses, read from /proc: the postmaster
 * and every process it forked (backends, checkpointer, WAL writer, autovacuum). Read by the run
 * itself (`run.ts`) outside its own measured windows, so the reading is not counted as the
 * controller's CPU.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { clockTicks, processTree } from "../proxy/cpu.js";

/** Fields of /proc/<pid>/stat after `(comm)`: [11] utime, [12] stime, [13] cutime, [14] cstime. */
function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/**
 * CPU ms the server has used so far: every live process's own time, plus the time of the
 * postmaster's children that have exited (its cutime + cstime: a backend's time moves there when
 * the postmaster reaps it, so the sum carries on across connections that come and go).
 */
export function serverCpuMs(postmaster: number): number {
  const root = statFields(postmaster);
  if (root === undefined) throw new Error(`the Postgres server (pid ${postmaster}) is gone`);
  let ticks = Number(root[13]) + Number(root[14]);
  for (const pid of processTree(postmaster)) {
    const f = statFields(pid);
    if (f !== undefined) ticks += Number(f[11]) + Number(f[12]);
  }
  return (1000 * ticks) / clockTicks();
}

export interface ServerMemory {
  /** Sum of the processes' PSS: shared memory (shared_buffers) counted once, split among them. */
  pssMB: number;
  /** Sum of their RSS: counts shared memory once per process that touched it. */
  rssSumMB: number;
  processes: number;
}

export function serverMemory(postmaster: number): ServerMemory {
  let pssKB = 0;
  let rssKB = 0;
  let processes = 0;
  for (const pid of processTree(postmaster)) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      pssKB += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
      rssKB += Number(/^Rss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
      processes++;
    } catch {
      // exited between the scan and the read
    }
  }
  return { pssMB: pssKB / 1024, rssSumMB: rssKB / 1024, processes };
}
