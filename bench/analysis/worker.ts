/**
 * Runs benchmark tasks (a cell and a range of run numbers) off the main thread. Every run is
 * seeded from its cell and number, so results do not depend on which worker ran it.
 *
 * @module
 */

import { parentPort, workerData } from "node:worker_threads";
import { type AviaryOptions, type JudgeSpec, judgeSpecs } from "./judges.js";
import { type Cell, scenarioNamed } from "./scenarios.js";
import { simulateRun } from "./simulate.js";

export interface Task {
  id: number;
  cell: Cell;
  runFrom: number;
  runTo: number;
  /** Runs at or above this skip the capped (Mann-Whitney) judges. */
  cappedRuns: number;
}

export interface TaskResult {
  id: number;
  /** Per judge name: decision times (s, or null) and bad requests, one per run it saw. */
  byJudge: Record<string, { decidedAt: Array<number | null>; bad: number[] }>;
}

export interface WorkerInit {
  opts: AviaryOptions;
  /** Judge names to run (all when empty). */
  only: string[];
}

export function selectSpecs(specs: readonly JudgeSpec[], only: readonly string[]): JudgeSpec[] {
  return only.length === 0 ? [...specs] : specs.filter((s) => only.includes(s.name));
}

export function runTask(task: Task, specs: readonly JudgeSpec[]): TaskResult {
  const kind = scenarioNamed(task.cell.scenario).kind;
  const forKind = specs.filter(
    (s) =>
      s.kinds.includes(kind) &&
      (s.scenarios === undefined || s.scenarios.includes(task.cell.scenario)),
  );
  const byJudge: TaskResult["byJudge"] = {};
  for (const s of forKind) byJudge[s.name] = { decidedAt: [], bad: [] };
  for (let run = task.runFrom; run < task.runTo; run++) {
    const active = run < task.cappedRuns ? forKind : forKind.filter((s) => s.capped !== true);
    const outcomes = simulateRun(task.cell, run, active);
    active.forEach((s, j) => {
      const o = outcomes[j];
      const slot = byJudge[s.name];
      if (o === undefined || slot === undefined) return;
      slot.decidedAt.push(o.decidedAt);
      slot.bad.push(o.bad);
    });
  }
  return { id: task.id, byJudge };
}

if (parentPort !== null && workerData !== undefined && workerData !== null) {
  const port = parentPort;
  const init = workerData as WorkerInit;
  const specs = selectSpecs((await judgeSpecs(init.opts)).specs, init.only);
  port.on("message", (task: Task | null) => {
    if (task === null) {
      port.close();
      return;
    }
    port.postMessage(runTask(task, specs));
  });
  port.postMessage({ ready: true });
}
