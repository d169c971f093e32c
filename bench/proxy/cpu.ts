/**
 * CPU accounting from /proc: utime+stime of process trees (`/proc/<pid>/stat`) and per-core
 * busy time (`/proc/stat`), read before and after each measured run.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

let ticksPerSecond: number | undefined;

/** USER_HZ, the unit of utime/stime in /proc (almost always 100). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    } catch {
      ticksPerSecond = 100;
    }
    if (!Number.isFinite(ticksPerSecond) || ticksPerSecond <= 0) ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/** Fields of /proc/<pid>/stat after the `(comm)` part: [0] is state, [1] ppid, [11] utime, [12] stime. */
function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** The pid and all its descendants (found by scanning /proc for parent pids). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    if (fields === undefined) continue;
    const ppid = Number(fields[1]);
    const list = children.get(ppid);
    if (list === undefined) children.set(ppid, [Number(name)]);
    else list.push(Number(name));
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU seconds (user + system, all threads) the processes have used so far; throws if one is gone. */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    if (f === undefined) throw new Error(`process ${pid} is gone`);
    ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / clockTicks();
}

export interface CoreTimes {
  busy: number;
  total: number;
}

/** Cumulative busy and total jiffies per CPU, from /proc/stat. */
export function coreTimes(): CoreTimes[] {
  const out: CoreTimes[] = [];
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (m === null) continue;
    const v = m[2]!.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out[Number(m[1])] = { busy: total - v[3]! - v[4]!, total };
  }
  return out;
}

/** Busy percentage per CPU between two {@link coreTimes} readings. */
export function coreBusy(before: CoreTimes[], after: CoreTimes[]): number[] {
  return after.map((a, i) => {
    const b = before[i] ?? { busy: 0, total: 0 };
    const total = a.total - b.total;
    return total > 0 ? (100 * (a.busy - b.busy)) / total : 0;
  });
}

/**
 * CPU seconds of this process plus its children that have exited and been reaped (wrk, the
 * paced generator): `utime + stime + cutime + cstime` of /proc/self/stat.
 */
export function selfAndReapedSeconds(): number {
  const f = statFields(process.pid);
  if (f === undefined) return 0;
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / clockTicks();
}

/** Busy CPU seconds summed over all cores between two {@link coreTimes} readings. */
export function busySeconds(before: CoreTimes[], after: CoreTimes[]): number {
  let jiffies = 0;
  after.forEach((a, i) => {
    jiffies += a.busy - (before[i]?.busy ?? 0);
  });
  return jiffies / clockTicks();
}
