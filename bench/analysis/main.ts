/**
 * The decision benchmark (research §5(d)): simulated rollouts judged by Aviary's judges and by
 * the peers' rules on the same simulated data; false rollbacks on A/A runs, power, time to
 * detect and bad requests served on A/B runs. Prints figures and the targets beside them, never
 * fails on them.
 *
 * Usage: npm run bench:analysis [-- --quick] [-- --json] [-- --runs N] [-- --mw-runs N]
 *        [-- --workers N] [-- --alpha A] [-- --margin M] [-- --prior-scale S]
 *        [-- --dispersion estimate|binomial] [-- --restart-every 5m|0s]
 *        [-- --rps 10,100] [-- --weights 5,50] [-- --base 1] [-- --scenarios "A/A,errors ×2"]
 *        [-- --only seq-err,flagger]
 *
 * @module
 */

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { type AviaryOptions, judgeSpecs } from "./judges.js";
import { type CellResult, printTables, printTargets, SHORT, summarise } from "./report.js";
import {
  type Cell,
  cellKey,
  cellsOf,
  FULL_GRID,
  type Grid,
  QUICK_GRID,
  SCENARIOS,
  scenarioNamed,
} from "./scenarios.js";
import { runTask, selectSpecs, type Task, type TaskResult } from "./worker.js";

interface Args {
  quick: boolean;
  json: boolean;
  runs: number;
  mwRuns: number;
  workers: number;
  opts: AviaryOptions;
  grid: Grid;
  /** Full judge names to run; empty for all. */
  only: string[];
}

function parseArgs(argv: string[]): Args {
  const has = (f: string) => argv.includes(f);
  const val = (f: string): string | undefined => {
    const i = argv.indexOf(f);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (f: string, d: number): number => {
    const v = val(f);
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`${f} expects a number, got ${v}`);
    return n;
  };
  const list = (f: string, scale: number): number[] | undefined =>
    val(f)
      ?.split(",")
      .map((s) => Number(s) * scale);
  if (has("--help")) {
    console.log(
      "npm run bench:analysis [-- --quick] [-- --json] [-- --runs N] [-- --mw-runs N] [-- --workers N]\n" +
        "  [-- --alpha 0.01] [-- --margin 0.1] [-- --prior-scale 1] [-- --dispersion estimate|binomial] [-- --restart-every 5m|0s]\n" +
        "  [-- --prior-s2-errors 0.25] [-- --prior-s2-latency 2]\n" +
        "  [-- --rps 10,100,1000] [-- --weights 5,25,50] [-- --base 0.1,1,5] [-- --scenarios 'A/A,errors ×2']\n" +
        `  [-- --only ${Object.values(SHORT).join(",")}]\n` +
        `scenarios: ${SCENARIOS.map((s) => s.name).join(", ")}`,
    );
    process.exit(0);
  }
  const quick = has("--quick");
  const grid: Grid = { ...(quick ? QUICK_GRID : FULL_GRID) };
  const rps = list("--rps", 1);
  const weights = list("--weights", 0.01);
  const base = list("--base", 0.01);
  const scenarios = val("--scenarios")?.split(",");
  if (rps !== undefined) grid.rps = rps;
  if (weights !== undefined) grid.weights = weights;
  if (base !== undefined) {
    grid.baseErrorRates = base;
    grid.latencyBaseErrorRates = base.includes(0.01) ? [0.01] : [base[0] as number];
  }
  if (scenarios !== undefined) {
    for (const s of scenarios) scenarioNamed(s);
    grid.scenarios = scenarios;
  }
  const runs = num("--runs", quick ? 200 : 2000);
  return {
    quick,
    json: has("--json"),
    runs,
    mwRuns: Math.min(runs, num("--mw-runs", quick ? 50 : 300)),
    workers: Math.max(1, num("--workers", Math.min(2, availableParallelism()))),
    opts: {
      alpha: num("--alpha", 0.01),
      margin: num("--margin", 0.1),
      priorScale: num("--prior-scale", 1),
      dispersion: val("--dispersion") === "binomial" ? "binomial" : "estimate",
      restartEvery: val("--restart-every") ?? "5m",
      priorS2: {
        ...(val("--prior-s2-errors") === undefined ? {} : { errors: num("--prior-s2-errors", 0) }),
        ...(val("--prior-s2-latency") === undefined
          ? {}
          : { latency: num("--prior-s2-latency", 0) }),
      },
    },
    grid,
    only: (val("--only")?.split(",") ?? []).map((short) => {
      const full = Object.entries(SHORT).find(([, s]) => s === short)?.[0];
      if (full === undefined)
        throw new Error(`--only: unknown judge ${short} (${Object.values(SHORT).join(", ")})`);
      return full;
    }),
  };
}

const CHUNK = 100;
const WORKER_URL = new URL("./worker.ts", import.meta.url).href;

function tasksOf(cells: readonly Cell[], runs: number, mwRuns: number): Task[] {
  const tasks: Task[] = [];
  for (const cell of cells) {
    for (let from = 0; from < runs; from += CHUNK) {
      tasks.push({
        id: tasks.length,
        cell,
        runFrom: from,
        runTo: Math.min(runs, from + CHUNK),
        cappedRuns: mwRuns,
      });
    }
  }
  // Costly cells (A/A runs see every interval) first, so the pool ends evenly.
  const cost = (t: Task) =>
    (scenarioNamed(t.cell.scenario).kind === "aa" ? 4 : 1) * Math.log10(t.cell.rps * 10) +
    (t.runFrom < mwRuns ? 3 : 0);
  return tasks.sort((a, b) => cost(b) - cost(a));
}

async function runPool(
  tasks: Task[],
  args: Args,
  progress: (done: number) => void,
): Promise<TaskResult[]> {
  const results: TaskResult[] = [];
  if (args.workers === 1) {
    const specs = selectSpecs((await judgeSpecs(args.opts)).specs, args.only);
    for (const t of tasks) {
      results.push(runTask(t, specs));
      progress(results.length);
    }
    return results;
  }
  const queue = [...tasks];
  await Promise.all(
    Array.from({ length: args.workers }, () => {
      // Workers do not inherit tsx's loader hooks on Node 20: register them first, then load the worker.
      const boot = `import("tsx/esm/api").then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL)}); })`;
      const worker = new Worker(boot, {
        eval: true,
        workerData: { opts: args.opts, only: args.only },
      });
      return new Promise<void>((resolve, reject) => {
        const next = () => {
          const t = queue.shift();
          worker.postMessage(t ?? null);
          if (t === undefined) resolve();
        };
        worker.on("message", (m: TaskResult | { ready: true }) => {
          if ("ready" in m) return next();
          results.push(m);
          progress(results.length);
          next();
        });
        worker.on("error", reject);
        worker.on("exit", (code) =>
          code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`)),
        );
      });
    }),
  );
  return results;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = args.json
    ? (l: string) => process.stderr.write(`${l}\n`)
    : (l: string) => console.log(l);
  const cells = cellsOf(args.grid);
  const tasks = tasksOf(cells, args.runs, args.mwRuns);
  const { notes } = await judgeSpecs(args.opts);
  log(
    `Decision benchmark: ${cells.length} cells × ${args.runs} runs (Mann-Whitney ${args.mwRuns}), horizon 60 min, ` +
      `Aviary checks every 10 s, peers every 60 s; α = ${args.opts.alpha}, margin ${args.opts.margin}, prior scale ${args.opts.priorScale}, dispersion ${args.opts.dispersion}, restarts every ${args.opts.restartEvery}; ${args.workers} worker(s)`,
  );
  for (const n of notes) log(`note: ${n}`);
  const started = Date.now();
  let lastPrint = 0;
  const results = await runPool(tasks, args, (done) => {
    const now = Date.now();
    if (process.stderr.isTTY && now - lastPrint > 1000) {
      lastPrint = now;
      process.stderr.write(
        `\r  ${done}/${tasks.length} tasks, ${((now - started) / 1000).toFixed(0)} s `,
      );
    }
  });
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  const seconds = (Date.now() - started) / 1000;

  // Fold task results by cell and judge, in run order.
  const byCell = new Map<
    string,
    Map<string, Array<{ from: number; decidedAt: Array<number | null>; bad: number[] }>>
  >();
  const taskById = new Map(tasks.map((t) => [t.id, t]));
  for (const r of results) {
    const task = taskById.get(r.id) as Task;
    const key = cellKey(task.cell);
    let judges = byCell.get(key);
    if (judges === undefined) {
      judges = new Map();
      byCell.set(key, judges);
    }
    for (const [judge, v] of Object.entries(r.byJudge)) {
      let parts = judges.get(judge);
      if (parts === undefined) {
        parts = [];
        judges.set(judge, parts);
      }
      parts.push({ from: task.runFrom, ...v });
    }
  }
  const out: CellResult[] = [];
  for (const cell of cells) {
    const judges = byCell.get(cellKey(cell));
    if (judges === undefined) continue;
    for (const [judge, parts] of judges) {
      parts.sort((a, b) => a.from - b.from);
      out.push(
        summarise(
          cell,
          judge,
          parts.flatMap((p) => p.decidedAt),
          parts.flatMap((p) => p.bad),
        ),
      );
    }
  }

  printTables(out, log);
  printTargets(out, args.opts.alpha, log);
  log("");
  log(`${results.length} tasks in ${seconds.toFixed(1)} s`);
  if (args.json) {
    const cellsJson = out.map(({ falseRollbackCI, ...rest }) => ({ ...rest, falseRollbackCI }));
    process.stdout.write(`${JSON.stringify({ cells: cellsJson }, null, 2)}\n`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
