/**
 * `npm run bench:controller`: 1,000 concurrent rollouts in one process — the real Controller,
 * the no-op traffic router, a real SQLite file store and a 10 s tick — and what they cost in
 * CPU and memory. Each measured run is a child process (`run.ts`), so CPU and resident memory
 * are the run's own. Two modes:
 *
 * - sim: a simulated clock advanced in 10 s steps for 30 simulated minutes; CPU time per
 *   simulated minute ÷ 60 s = the share of one core the controller needs in real operation.
 *   Repeated (`--reps`) and interleaved with the peer; medians are printed.
 * - real: the system clock for `--seconds` of wall time; process CPU per wall minute.
 *
 * Peer: the same sim run with 100 rollouts (`--peer scale`, the default), which shows whether
 * the cost grows linearly with the rollouts; or with an in-memory SQLite store (`--peer
 * memory`), which shows what durability (the WAL and one fsync per commit) costs.
 *
 * `--store postgres` runs the measured configurations on the Postgres store instead: the bench
 * starts a throwaway Postgres 15 (`startPostgres`), gives every run a fresh database, and stops
 * the server at the end. The controller's own CPU and RSS are what the targets apply to; the
 * server's CPU and memory (read from /proc by the run) are reported beside them. The same
 * 1,000-rollout sim on the SQLite file store runs as a further peer, for the Postgres/SQLite ratio.
 *
 * Targets: ≤ 25 % of one core and ≤ 300 MB resident at 1,000 rollouts.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type PostgresServer, startPostgres } from "../../src/store/postgres/process.js";
import { busySeconds, coreTimes, selfAndReapedSeconds } from "../proxy/cpu.js";
import { backgroundLoad } from "../proxy/measure.js";
import {
  installCleanup,
  launch,
  registerTempDir,
  stop,
  stopAll,
  tail,
  wasInterrupted,
} from "../proxy/procs.js";
import { median, round } from "../proxy/stats.js";
import { serverCpuMs } from "./db-usage.js";
import { RESULT_MARK, type RunResult } from "./result.js";

const RUN_SCRIPT = fileURLToPath(new URL("./run.ts", import.meta.url));
const TARGET_CPU_PCT = 25;
const TARGET_RSS_MB = 300;

const USAGE = `Usage: npm run bench:controller -- [flags]
  --rollouts N       concurrent rollouts (default 1000)
  --mode M           both | sim | real (default both)
  --reps N           sim runs per configuration, interleaved with the peer (default 3)
  --sim-minutes M    simulated minutes per sim run (default 30; the first 7 fill the pipeline)
  --seconds S        wall seconds of the real-time run, a multiple of 10 (default 120)
  --peer P           scale (the same sim with --peer-rollouts) | memory (:memory: store) | none
  --peer-rollouts N  rollouts of the scaling peer (default 100)
  --store S          sqlite (a file in a temp dir, default) | memory | postgres (a throwaway
                     Postgres 15 started by the bench, a fresh database per run; the
                     1,000-rollout sim also runs on the SQLite file store, for the ratio)
  --router R         noop (default) | embedded: the embedded data plane's provider over a Router
                     that never listens (what aviary serve drives), for every run
  --quick            1 rep, 12 simulated minutes, 30 s real
  --json             one JSON object on stdout; the human report on stderr
  --help`;

interface Opts {
  rollouts: number;
  mode: "both" | "sim" | "real";
  reps: number;
  simMinutes: number;
  seconds: number;
  peer: "scale" | "memory" | "none";
  peerRollouts: number;
  store: Store;
  router: "noop" | "embedded";
  json: boolean;
}

type Store = RunResult["store"];

class UsageError extends Error {}

function parse(argv: readonly string[]): Opts | undefined {
  const o: Opts = {
    rollouts: 1000,
    mode: "both",
    reps: 3,
    simMinutes: 30,
    seconds: 120,
    peer: "scale",
    peerRollouts: 100,
    store: "sqlite",
    router: "noop",
    json: false,
  };
  const set = new Set<string>();
  let quick = false;
  const whole = (flag: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min || n > max)
      throw new UsageError(`${flag} needs a whole number from ${min} to ${max}`);
    return n;
  };
  const oneOf = <T extends string>(flag: string, v: string | undefined, allowed: T[]): T => {
    if (v === undefined || !allowed.includes(v as T))
      throw new UsageError(`${flag} is one of ${allowed.join(", ")}`);
    return v as T;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = (): string | undefined => argv[++i];
    set.add(flag);
    switch (flag) {
      case "--rollouts":
        o.rollouts = whole(flag, value(), 1, 10_000);
        break;
      case "--mode":
        o.mode = oneOf(flag, value(), ["both", "sim", "real"]);
        break;
      case "--reps":
        o.reps = whole(flag, value(), 1, 20);
        break;
      case "--sim-minutes":
        o.simMinutes = whole(flag, value(), 8, 600);
        break;
      case "--seconds":
        o.seconds = whole(flag, value(), 10, 3600);
        break;
      case "--peer":
        o.peer = oneOf(flag, value(), ["scale", "memory", "none"]);
        break;
      case "--peer-rollouts":
        o.peerRollouts = whole(flag, value(), 1, 10_000);
        break;
      case "--store":
        o.store = oneOf(flag, value(), ["sqlite", "memory", "postgres"]);
        break;
      case "--router":
        o.router = oneOf(flag, value(), ["noop", "embedded"]);
        break;
      case "--quick":
        quick = true;
        break;
      case "--json":
        o.json = true;
        break;
      case "--help":
      case "-h":
        return undefined;
      default:
        throw new UsageError(`unknown flag ${flag}`);
    }
  }
  if (quick) {
    if (!set.has("--reps")) o.reps = 1;
    if (!set.has("--sim-minutes")) o.simMinutes = 12;
    if (!set.has("--seconds")) o.seconds = 30;
  }
  return o;
}

let opts: Opts;
try {
  const parsed = parse(process.argv.slice(2));
  if (parsed === undefined) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  opts = parsed;
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`bench:controller: ${err.message}\n${USAGE}\n`);
  process.exit(2);
}
const human = opts.json ? process.stderr : process.stdout;
const say = (line = ""): void => {
  human.write(`${line}\n`);
};

interface Measured {
  result: RunResult;
  /** CPU used by processes that are not ours during the run, % of one CPU. */
  otherCpuPct: number;
}

interface RunSpec {
  label: string;
  mode: "sim" | "real";
  rollouts: number;
  store: Store;
}

/** The Postgres server of `--store postgres`, started once for every run. */
let pg: PostgresServer | undefined;

/** Runs one child and samples the machine around it. Hard-bounded in time. */
async function runOne(base: string, spec: RunSpec, o: Opts, seq: number): Promise<Measured> {
  const dir = join(base, `run-${seq}`);
  mkdirSync(dir);
  const args = ["--import", "tsx", RUN_SCRIPT];
  args.push("--mode", spec.mode, "--rollouts", String(spec.rollouts), "--store", spec.store);
  args.push("--sim-minutes", String(o.simMinutes), "--seconds", String(o.seconds));
  args.push("--tick-ms", "10000", "--dir", dir, "--router", o.router);
  let postmaster: number | undefined;
  if (spec.store === "postgres") {
    postmaster = pg?.pid();
    if (pg === undefined || postmaster === undefined)
      throw new Error("the Postgres server is not running");
    args.push("--pg-url", await pg.createDatabase(`run_${seq}`), "--pg-pid", String(postmaster));
  }
  // The server is this process's child but not reaped: its CPU is counted apart from "other".
  const serverS = () => (postmaster === undefined ? 0 : serverCpuMs(postmaster) / 1000);
  const server0 = serverS();
  const cores0 = coreTimes();
  const self0 = selfAndReapedSeconds();
  const t0 = performance.now();
  const proc = launch(`run ${spec.label}`, process.execPath, args);
  // Generous bound: a simulated minute takes about a second at 1,000 rollouts.
  // (With --router embedded every transition recompiles the plan: allow far more.)
  // (Postgres: every store call is a round trip, and the clock waits for them: allow more too.)
  const perSimMinute =
    o.router === "embedded" ? 60_000 : spec.store === "postgres" ? 30_000 : 10_000;
  const limitMs = 120_000 + (spec.mode === "real" ? o.seconds * 1000 : o.simMinutes * perSimMinute);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    proc.exited.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), limitMs);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    await stop(proc);
    throw new Error(`${spec.label}: no result after ${limitMs / 1000} s; stopped`);
  }
  const code = await proc.exited;
  const wallS = (performance.now() - t0) / 1000;
  const ours = selfAndReapedSeconds() - self0 + (serverS() - server0);
  const otherCpuPct = Math.max(0, (100 * (busySeconds(cores0, coreTimes()) - ours)) / wallS);
  rmSync(dir, { recursive: true, force: true });
  const line = proc.stdout.split("\n").find((l) => l.startsWith(RESULT_MARK));
  if (code !== 0 || line === undefined) {
    throw new Error(`${spec.label}: exit ${code}\n${tail(proc.stderr, 15)}`);
  }
  return { result: JSON.parse(line.slice(RESULT_MARK.length)) as RunResult, otherCpuPct };
}

interface SimFigures {
  /** Median over the steady simulated minutes of CPU ms per simulated minute. */
  cpuMsPerMin: number;
  /** The database server's CPU ms per steady simulated minute (their mean), null for SQLite. */
  dbCpuMsPerMin: number | null;
  cpuPctOfCore: number;
  eventsPerMin: number;
  wallMsPerMin: number;
}

function simFigures(r: RunResult): SimFigures {
  const steady = r.samples.filter((s) => s.index >= r.steadyFrom);
  const cpuMsPerMin = median(steady.map((s) => s.cpuMs));
  const db = r.database;
  return {
    cpuMsPerMin,
    cpuPctOfCore: cpuMsPerMin / 600,
    eventsPerMin: median(steady.map((s) => s.events)),
    wallMsPerMin: median(steady.map((s) => s.wallMs)),
    dbCpuMsPerMin: db !== null && db.steadyMinutes > 0 ? db.cpuMs / db.steadyMinutes : null,
  };
}

function describeStore(store: Store, base: string): string {
  if (store === "sqlite")
    return `SQLite file (WAL, synchronous=FULL) in ${os.tmpdir()} (${fsType(base)})`;
  if (store === "memory") return "SQLite :memory:";
  return "Postgres 15 (throwaway server started by the bench, fsync=on, synchronous_commit=on, TCP on 127.0.0.1), a fresh database per run, pool of 4";
}

const f1 = (n: number): string => n.toFixed(1);
const f2 = (n: number): string => n.toFixed(2);

function fsType(dir: string): string {
  const r = spawnSync("stat", ["-f", "-c", "%T", dir], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : "?";
}

function checkRun(m: Measured, label: string): string[] {
  const r = m.result;
  const problems: string[] = [];
  if (r.errors > 0)
    problems.push(`${label}: ${r.errors} controller error(s), last: ${r.lastError}`);
  if (r.routerMismatches > 0)
    problems.push(`${label}: ${r.routerMismatches} service(s) where router ≠ store`);
  if (r.eventsInStore !== null && r.eventsInStore !== r.eventsReported)
    problems.push(
      `${label}: store holds ${r.eventsInStore} events, onEvent saw ${r.eventsReported}`,
    );
  if (r.activeAtEnd < r.rollouts * 0.95)
    problems.push(`${label}: only ${r.activeAtEnd} of ${r.rollouts} rollouts active at the end`);
  return problems;
}

async function main(o: Opts): Promise<boolean> {
  const cpus = os.cpus();
  const base = mkdtempSync(join(os.tmpdir(), "aviary-bench-controller-"));
  registerTempDir(base);
  say(`Aviary controller benchmark — ${new Date().toISOString()}`);
  say(`machine: ${cpus.length} × ${cpus[0]?.model ?? "?"}; node ${process.version}`);
  say(
    `setup: ${o.rollouts} services svc-0000…, each rolling out setWeight 5 → pause 2m → 25 → pause 2m → 50 → pause 2m → 100 → promote, ` +
      "redeployed with the next version when promoted (so all stay in flight); deploys spread evenly over the 6 min a rollout takes",
  );
  say(
    `controller: real Controller, ${o.router === "noop" ? "NoopTrafficProvider" : "EmbeddedTrafficProvider over a Router that does not listen"}, tick 10 s, production logger (pino → stderr pipe), ` +
      `store ${describeStore(o.store, base)}`,
  );
  if (o.store === "postgres") {
    pg = await startPostgres();
    say(
      "database: the server's CPU and memory (postmaster and every process it forked, from /proc) are counted apart from the controller's and printed beside them; the targets apply to the controller process",
    );
  }
  say(
    `background load before start (other processes, 1 s): ${(await backgroundLoad()).toFixed(0)} % of one CPU`,
  );
  say();

  const problems: string[] = [];
  let seq = 0;
  const main: RunSpec = {
    label: `${o.rollouts} rollouts`,
    mode: "sim",
    rollouts: o.rollouts,
    store: o.store,
  };
  const peer: RunSpec | undefined =
    o.peer === "scale"
      ? {
          label: `${o.peerRollouts} rollouts`,
          mode: "sim",
          rollouts: o.peerRollouts,
          store: o.store,
        }
      : o.peer === "memory"
        ? {
            label: `${o.rollouts} rollouts, :memory:`,
            mode: "sim",
            rollouts: o.rollouts,
            store: "memory",
          }
        : undefined;
  // The same run on the SQLite file store, so the report can say what Postgres costs.
  const sqlitePeer: RunSpec | undefined =
    o.store === "postgres"
      ? {
          label: `${o.rollouts} rollouts, SQLite`,
          mode: "sim",
          rollouts: o.rollouts,
          store: "sqlite",
        }
      : undefined;

  const sims: Measured[] = [];
  const peers: Measured[] = [];
  const sqlites: Measured[] = [];
  if (o.mode !== "real") {
    say(
      `sim: simulated clock, ${o.simMinutes} simulated minutes in 10 s steps per run, ${o.reps} run(s) per configuration, interleaved; ` +
        "figures are medians over the steady minutes (from minute 7 on) of each run",
    );
    for (let rep = 0; rep < o.reps; rep++) {
      // Interleaved: each configuration starts each rep at another place in the order.
      const configs = [main, ...(peer ? [peer] : []), ...(sqlitePeer ? [sqlitePeer] : [])];
      const order = configs.map((_, i) => configs[(i + rep) % configs.length] as RunSpec);
      for (const spec of order) {
        const m = await runOne(base, spec, o, seq++);
        (spec === main ? sims : spec === peer ? peers : sqlites).push(m);
        problems.push(...checkRun(m, `sim ${spec.label}`));
        const f = simFigures(m.result);
        say(
          `  run ${rep + 1}/${o.reps}  ${spec.label.padEnd(24)} ${f.cpuMsPerMin.toFixed(0).padStart(5)} ms CPU per simulated minute` +
            ` = ${f2(f.cpuPctOfCore).padStart(5)} % of one core   ${f.eventsPerMin.toFixed(0).padStart(5)} events/min` +
            `   GC ${((60_000 * m.result.measured.gcMs) / (m.result.measured.simMs ?? 1)).toFixed(0)} ms/min` +
            `   RSS ${f1(m.result.memory.rssMB)} MB (peak ${f1(m.result.memory.peakRssMB)})` +
            (f.dbCpuMsPerMin !== null && m.result.database !== null
              ? `   database ${f2(f.dbCpuMsPerMin / 600)} % of one core, PSS ${f1(m.result.database.pssMB)} MB`
              : "") +
            `   other load ${m.otherCpuPct.toFixed(0)} %`,
        );
      }
    }
    say();
  }

  let real: Measured | undefined;
  if (o.mode !== "sim") {
    say(
      `real: system clock, ${o.seconds} s of wall time after reaching the steady state on a simulated clock and restarting the controller from the store`,
    );
    real = await runOne(
      base,
      { label: "real", mode: "real", rollouts: o.rollouts, store: o.store },
      o,
      seq++,
    );
    problems.push(...checkRun(real, "real"));
    const r = real.result;
    const windows = r.samples.map((s) => (100 * s.cpuMs) / s.wallMs);
    say(
      `  10 s windows, % of one core: ${windows.map((w) => w.toFixed(1)).join(" ")}   ` +
        `GC ${((60_000 * r.measured.gcMs) / r.measured.wallMs).toFixed(0)} ms/min   (other load ${real.otherCpuPct.toFixed(0)} %)`,
    );
    const perMinute: string[] = [];
    for (let i = 0; i + 6 <= r.samples.length; i += 6) {
      const chunk = r.samples.slice(i, i + 6);
      const cpu = chunk.reduce((a, s) => a + s.cpuMs, 0);
      const wall = chunk.reduce((a, s) => a + s.wallMs, 0);
      perMinute.push(`${f2((100 * cpu) / wall)} %`);
    }
    if (perMinute.length > 0) say(`  per wall minute: ${perMinute.join(", ")}`);
    if (r.database !== null && r.database.wallMs > 0)
      say(
        `  database: ${f2((100 * r.database.cpuMs) / r.database.wallMs)} % of one core over the same ${(r.database.wallMs / 1000).toFixed(0)} s, ` +
          `PSS ${f1(r.database.pssMB)} MB over ${r.database.processes} processes (RSS summed ${f1(r.database.rssSumMB)} MB)`,
      );
    if (r.loopDelay !== null) {
      say(
        `  event-loop delay (monitorEventLoopDelay every 10 ms, lateness): p50 ${f1(r.loopDelay.p50Ms)} ms, p99 ${f1(r.loopDelay.p99Ms)} ms, ` +
          `max ${f1(r.loopDelay.maxMs)} ms — how long a data plane in the same process would wait behind the controller`,
      );
    }
    say();
  }

  // ---- summary ----
  const simF = sims.map((m) => simFigures(m.result));
  const peerF = peers.map((m) => simFigures(m.result));
  const simCpuPct = sims.length > 0 ? median(simF.map((f) => f.cpuPctOfCore)) : null;
  const simCpuMs = sims.length > 0 ? median(simF.map((f) => f.cpuMsPerMin)) : null;
  const peerCpuMs = peers.length > 0 ? median(peerF.map((f) => f.cpuMsPerMin)) : null;
  const realCpuPct =
    real === undefined ? null : (100 * real.result.measured.cpuMs) / real.result.measured.wallMs;
  const all = [...sims, ...(real ? [real] : [])];
  const rssMB = Math.max(...all.map((m) => m.result.memory.rssMB));
  const peakRssMB = Math.max(...all.map((m) => m.result.memory.peakRssMB));
  const baselineRssMB = median(all.map((m) => m.result.memory.baselineRssMB));
  const heapUsedMB = Math.max(...all.map((m) => m.result.memory.heapUsedMB));
  const eventsPerMin = sims.length > 0 ? median(simF.map((f) => f.eventsPerMin)) : null;
  const realEventsPerMin =
    real === undefined
      ? null
      : (60_000 * real.result.measured.events) / real.result.measured.wallMs;
  const other = median(all.map((m) => m.otherCpuPct));
  const first = all[0]?.result;
  // The database server beside the controller (Postgres only).
  const dbSims = simF.flatMap((f) => (f.dbCpuMsPerMin === null ? [] : [f.dbCpuMsPerMin]));
  const dbCpuMsPerMin = dbSims.length > 0 ? median(dbSims) : null;
  const realDb = real?.result.database ?? null;
  const dbRealPct =
    realDb !== null && realDb.wallMs > 0 ? (100 * realDb.cpuMs) / realDb.wallMs : null;
  const dbRuns = all.flatMap((m) => (m.result.database === null ? [] : [m.result.database]));
  const dbPssMB = dbRuns.length > 0 ? Math.max(...dbRuns.map((d) => d.pssMB)) : null;
  const dbRssSumMB = dbRuns.length > 0 ? Math.max(...dbRuns.map((d) => d.rssSumMB)) : null;
  const sqliteF = sqlites.map((m) => simFigures(m.result));
  const sqliteCpuMs = sqlites.length > 0 ? median(sqliteF.map((f) => f.cpuMsPerMin)) : null;
  const sqliteRssMB =
    sqlites.length > 0 ? Math.max(...sqlites.map((m) => m.result.memory.rssMB)) : null;
  const sqliteRatio =
    sqliteCpuMs !== null && simCpuMs !== null && sqliteCpuMs > 0 ? simCpuMs / sqliteCpuMs : null;

  say(`Summary — ${o.rollouts} concurrent rollouts`);
  if (simCpuPct !== null && simCpuMs !== null) {
    say(
      `  CPU, simulated (median of ${sims.length} run(s)): ${simCpuMs.toFixed(0)} ms per simulated minute = ${f2(simCpuPct)} % of one core   target ≤ ${TARGET_CPU_PCT} %`,
    );
  }
  if (realCpuPct !== null && real) {
    say(
      `  CPU, real time (${(real.result.measured.wallMs / 1000).toFixed(0)} s): ${f2(realCpuPct)} % of one core   target ≤ ${TARGET_CPU_PCT} %`,
    );
  }
  if (dbCpuMsPerMin !== null || dbRealPct !== null) {
    const parts: string[] = [];
    if (dbCpuMsPerMin !== null)
      parts.push(
        `simulated ${dbCpuMsPerMin.toFixed(0)} ms per simulated minute = ${f2(dbCpuMsPerMin / 600)} % of one core (median of ${dbSims.length})`,
      );
    if (dbRealPct !== null) parts.push(`real time ${f2(dbRealPct)} % of one core`);
    say(
      `  database server beside it (not the controller's; no target): CPU ${parts.join(", ")}; ` +
        `memory PSS ${f1(dbPssMB ?? 0)} MB (shared memory counted once; RSS summed over its processes ${f1(dbRssSumMB ?? 0)} MB)`,
    );
  }
  say(
    `  memory: RSS ${f1(rssMB)} MB after the run (largest of the ${o.rollouts}-rollout runs), peak ${f1(peakRssMB)} MB, ` +
      `JS heap used ${f1(heapUsedMB)} MB; the same process before the controller: ${f1(baselineRssMB)} MB (node + tsx)   target ≤ ${TARGET_RSS_MB} MB`,
  );
  if (eventsPerMin !== null)
    say(
      `  transitions: ${eventsPerMin.toFixed(0)} committed per simulated minute (each one transaction: rollout + service + history event, then one router apply)`,
    );
  if (realEventsPerMin !== null && real)
    say(
      `  real time: ${real.result.measured.events} transitions committed in ${(real.result.measured.wallMs / 1000).toFixed(0)} s (${realEventsPerMin.toFixed(0)} per minute)`,
    );
  if (first) {
    const byType = Object.entries(first.eventsByType)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    say(
      `  events written (first run, setup included): ${first.eventsReported}` +
        (first.eventsInStore !== null ? ` (the store holds ${first.eventsInStore})` : "") +
        `: ${byType}`,
    );
    say(
      `  setup, not measured (creating ${first.rollouts} services${first.mode === "real" ? ", then reaching the steady state on the simulated clock" : ""}): ` +
        `${(first.setup.wallMs / 1000).toFixed(1)} s wall, ${(first.setup.cpuMs / 1000).toFixed(1)} s CPU`,
    );
  }
  let ratio: number | null = null;
  if (peer !== undefined && simCpuMs !== null && peerCpuMs !== null) {
    ratio = simCpuMs / peerCpuMs;
    if (o.peer === "scale") {
      const perRollout = ratio / (o.rollouts / o.peerRollouts);
      say(
        `  peer, ${o.peerRollouts} rollouts (median of ${peers.length}): ${peerCpuMs.toFixed(0)} ms per simulated minute; ` +
          `${o.rollouts} / ${o.peerRollouts} rollouts → CPU × ${f2(ratio)} for × ${f1(o.rollouts / o.peerRollouts)} rollouts ` +
          `(CPU per rollout × ${f2(perRollout)}: 1 = linear)`,
      );
    } else {
      say(
        `  peer, :memory: store (median of ${peers.length}): ${peerCpuMs.toFixed(0)} ms per simulated minute; file store / :memory: = × ${f2(ratio)} ` +
          `(wall per simulated minute ${f1(median(simF.map((f) => f.wallMsPerMin)))} vs ${f1(median(peerF.map((f) => f.wallMsPerMin)))} ms: fsync waits are wall time, not CPU)`,
      );
    }
  }
  if (sqliteCpuMs !== null && simCpuMs !== null && sqliteRatio !== null) {
    const withDb =
      dbCpuMsPerMin === null
        ? ""
        : `; with the database server's CPU: × ${f2((simCpuMs + dbCpuMsPerMin) / sqliteCpuMs)}`;
    say(
      `  peer, ${o.rollouts} rollouts on the SQLite file store (median of ${sqlites.length}): ${sqliteCpuMs.toFixed(0)} ms per simulated minute, RSS ${f1(sqliteRssMB ?? 0)} MB; ` +
        `Postgres / SQLite, the controller's CPU: × ${f2(sqliteRatio)}${withDb}` +
        ` (wall per simulated minute ${f1(median(simF.map((f) => f.wallMsPerMin)))} vs ${f1(median(sqliteF.map((f) => f.wallMsPerMin)))} ms)`,
    );
  }
  say(
    `  machine: other processes used ${other.toFixed(0)} % of one CPU during the runs (median)${other > 10 ? " — noisy: CPU time is the run's own, but caches and frequency are shared" : ""}`,
  );
  say("(targets are printed for comparison only; timing never changes the exit code)");
  for (const p of problems) say(`PROBLEM: ${p}`);
  if (problems.length > 0) say("a check failed: exit 1");

  if (o.json) {
    const out = {
      rollouts: o.rollouts,
      cpuPctOfCore: round(realCpuPct ?? simCpuPct, 3),
      cpuPctOfCoreSim: round(simCpuPct, 3),
      cpuPctOfCoreReal: round(realCpuPct, 3),
      cpuMsPerSimMinute: round(simCpuMs, 1),
      rssMB: round(rssMB, 1),
      peakRssMB: round(peakRssMB, 1),
      baselineRssMB: round(baselineRssMB, 1),
      heapUsedMB: round(heapUsedMB, 1),
      transitionsPerSimMinute: eventsPerMin,
      transitionsPerRealMinute: round(realEventsPerMin, 1),
      eventsWritten: first?.eventsReported ?? null,
      peer:
        peer === undefined
          ? null
          : {
              kind: o.peer,
              rollouts: peer.rollouts,
              store: peer.store,
              cpuMsPerSimMinute: round(peerCpuMs, 1),
              ratio: round(ratio, 3),
            },
      otherCpuPct: round(other, 1),
      reps: sims.length,
      simMinutes: o.simMinutes,
      realSeconds: real ? round(real.result.measured.wallMs / 1000, 1) : null,
      loopDelayMaxMs: real?.result.loopDelay ? round(real.result.loopDelay.maxMs, 1) : null,
      loopDelayP99Ms: real?.result.loopDelay ? round(real.result.loopDelay.p99Ms, 1) : null,
      store: o.store,
      router: o.router,
      database:
        o.store === "postgres"
          ? {
              kind: "postgres",
              cpuMsPerSimMinute: round(dbCpuMsPerMin, 1),
              cpuPctOfCoreSim: round(dbCpuMsPerMin === null ? null : dbCpuMsPerMin / 600, 3),
              cpuPctOfCoreReal: round(dbRealPct, 3),
              pssMB: round(dbPssMB, 1),
              rssSumMB: round(dbRssSumMB, 1),
            }
          : null,
      sqlitePeer:
        sqlitePeer === undefined || sqlites.length === 0
          ? null
          : {
              rollouts: sqlitePeer.rollouts,
              cpuMsPerSimMinute: round(sqliteCpuMs, 1),
              rssMB: round(sqliteRssMB, 1),
              ratio: round(sqliteRatio, 3),
            },
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
  return problems.length === 0;
}

installCleanup(say);
let ok = false;
try {
  ok = await main(opts);
} catch (err) {
  if (wasInterrupted()) await new Promise(() => {});
  say(`bench:controller: ${(err as Error).stack ?? String(err)}`);
} finally {
  await stopAll();
  await pg?.stop();
}
process.exitCode = ok ? 0 : 1;
