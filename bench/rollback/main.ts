/**
 * `npm run bench:rollback`: how long after an abort the canary stops receiving requests, under
 * load, through a real `aviary serve` and its REST API; against the same measurement for the
 * hand-edit way of cutting a canary off (rewrite the spec with weight 0, send SIGHUP).
 *
 * Per trial: deploy a canary (POST /api/v1/services/roll/deploy), wait until it serves its 50 %,
 * send POST …/abort, and wait until the canary upstream has been quiet for 300 ms. Time to zero
 * = the canary's last arrival − the moment the abort was sent, both read on the epoch clock in
 * high resolution (bench and upstream run on this machine; the offset is measured and applied).
 * See bench/README.md.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serveCli } from "../proxy/aviary.js";
import {
  busySeconds,
  coreTimes,
  cpuSeconds,
  processTree,
  selfAndReapedSeconds,
} from "../proxy/cpu.js";
import { backgroundLoad } from "../proxy/measure.js";
import { waitReady } from "../proxy/probe.js";
import {
  canPin,
  freePorts,
  installCleanup,
  launch,
  listening,
  type Proc,
  pinningEnabled,
  pinSelf,
  registerTempDir,
  setPinning,
  sleep,
  stop,
  stopAll,
  tail,
  wasInterrupted,
} from "../proxy/procs.js";
import { median, percentileSorted, round } from "../proxy/stats.js";
import { UPSTREAM_SCRIPT } from "../proxy/targets.js";
import { parseArgs, type RollbackArgs, USAGE, UsageError } from "./args.js";
import { LOAD_MARK, type LoadResult } from "./load-result.js";
import { AdminApi, ArrivalWatch, LogWatch, nowMs } from "./probes.js";
import { type SpecPorts, writeSpec } from "./spec.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = "dist/cli/main.js";
const LOAD_SCRIPT = fileURLToPath(new URL("./load.ts", import.meta.url));
/** The load generator, the upstreams and this process. */
const LOAD_CPU = 0;
/** aviary serve. */
const AVIARY_CPU = 1;
const TARGET_P99_MS = 50;

let args: RollbackArgs | undefined;
try {
  args = parseArgs(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`bench:rollback: ${err.message}\n${USAGE}\n`);
  process.exit(2);
}
if (args === undefined) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const opts = args;
const human = opts.json ? process.stderr : process.stdout;
const say = (line = ""): void => {
  human.write(`${line}\n`);
};

interface AbortTrial {
  /** The canary's last arrival − the send; 0 when nothing arrived after the send. */
  toZeroMs: number;
  /** Whether the canary received anything after the abort was sent. */
  arrivalsAfter: boolean;
  /** The abort request's response time. */
  apiMs: number;
  /** Aviary's clock (whole ms) when the controller took the abort (rollout.updatedAt) − the send. */
  controllerMs: number;
  /** Aviary's clock when it logged the committed abort, just before the router swap − the send. */
  swapMs: number;
  /** The log time − rollout.updatedAt: the commit (SQLite, fsync) before the router swap. */
  commitMs: number;
}

interface ReloadTrial {
  toZeroMs: number;
  arrivalsAfter: boolean;
  /** Aviary's clock when it logged the committed traffic change, just before the swap − SIGHUP. */
  swapMs: number;
  /** Aviary's clock when it logged "spec reloaded" − SIGHUP. */
  doneMs: number;
}

interface Stat {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function stat(values: readonly number[]): Stat {
  const sorted = Float64Array.from(values).sort();
  return {
    p50Ms: median(values),
    p99Ms: percentileSorted(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

const fmt = (n: number): string => n.toFixed(1);
/** Aviary's whole-millisecond clock against ours. */
const ms0 = (n: number): string => `≈${n.toFixed(0).padStart(3)} ms`;
const show = (s: Stat): string =>
  `p50 ${fmt(s.p50Ms).padStart(6)} ms   p99 ${fmt(s.p99Ms).padStart(6)} ms   max ${fmt(s.maxMs).padStart(6)} ms`;
const jsonStat = (s: Stat) => ({
  p50Ms: round(s.p50Ms, 2),
  p99Ms: round(s.p99Ms, 2),
  maxMs: round(s.maxMs, 2),
});

async function main(a: RollbackArgs): Promise<boolean> {
  const cli = serveCli(ROOT);
  if ("missing" in cli || "broken" in cli) {
    say(`bench:rollback needs \`aviary serve\`: ${"missing" in cli ? cli.missing : cli.broken}`);
    return false;
  }
  if (!cli.dataDir) {
    say("bench:rollback needs `aviary serve --data-dir`");
    return false;
  }
  const cpus = os.cpus();
  setPinning(a.pin && canPin(cpus.length));
  if (pinningEnabled()) pinSelf(LOAD_CPU);

  say(`Aviary rollback benchmark — ${new Date().toISOString()}`);
  say(`machine: ${cpus.length} × ${cpus[0]?.model ?? "?"}; node ${process.version}`);
  say(
    pinningEnabled()
      ? `pinning: load generator, upstreams and orchestrator on CPU${LOAD_CPU}; aviary serve on CPU${AVIARY_CPU}`
      : `pinning: off (${a.pin ? "taskset missing or fewer than 2 CPUs" : "--no-pin"})`,
  );
  say(
    `load: ${a.connections} connections closed loop (Node + undici, bench/rollback/load.ts), random x-user-id, ` +
      "alternating over /r/ (service roll) and /s/ (service static); no stickiness",
  );
  say(
    `background load before start (other processes, 1 s): ${(await backgroundLoad()).toFixed(0)} % of one CPU`,
  );

  const dir = mkdtempSync(join(os.tmpdir(), "aviary-bench-rollback-"));
  registerTempDir(dir);
  const ports = await freePorts(4);
  const [stablePort, canaryPort, listenPort, adminPort] = ports as [number, number, number, number];
  const p: SpecPorts = {
    listen: listenPort,
    admin: adminPort,
    stable: stablePort,
    canary: canaryPort,
  };
  const stableOrigin = `http://127.0.0.1:${stablePort}`;
  const canaryOrigin = `http://127.0.0.1:${canaryPort}`;
  const listenOrigin = `http://127.0.0.1:${listenPort}`;
  const adminOrigin = `http://127.0.0.1:${adminPort}`;

  const upstream = (name: string, port: number): Proc =>
    launch(
      `upstream ${name}`,
      process.execPath,
      ["--import", "tsx", UPSTREAM_SCRIPT, "--port", String(port), "--name", name, "--track", "on"],
      { cpu: LOAD_CPU },
    );
  const stable = upstream("stable", stablePort);
  const canary = upstream("canary", canaryPort);
  await waitReady(`${stableOrigin}/__count`, stable);
  await waitReady(`${canaryOrigin}/__count`, canary);

  const specFile = join(dir, "aviary.yaml");
  writeSpec(specFile, p, 0);
  const token = randomBytes(18).toString("base64url");
  const aviary = launch(
    "aviary",
    process.execPath,
    [CLI, "serve", cli.specFlag, specFile, "--data-dir", join(dir, "data")],
    { cpu: AVIARY_CPU, cwd: ROOT, env: { AVIARY_TOKEN: token } },
  );
  const logs = new LogWatch(aviary);
  await waitReady(`${adminOrigin}/healthz`, aviary);
  await waitReady(`${listenOrigin}/r/ready`, aviary);
  say(
    `aviary serve: pid ${aviary.pid}, data plane ${listenOrigin}, admin ${adminOrigin}, store ${join(dir, "data")} ` +
      `(production settings: SQLite synchronous=FULL, pino info logs on stderr)`,
  );

  const api = new AdminApi(adminOrigin, token);
  const watch = new ArrivalWatch(canaryOrigin);
  const cal0 = await watch.calibrate();
  say(
    `clocks: canary upstream − bench = ${cal0.offsetMs.toFixed(3)} ms (round trip ${cal0.rttMs.toFixed(2)} ms); applied to every arrival time`,
  );

  const maxLoadS = a.warmupS + a.trials * 30 + 120;
  const load = launch(
    "load",
    process.execPath,
    [
      "--import",
      "tsx",
      LOAD_SCRIPT,
      "--url",
      listenOrigin,
      "--connections",
      String(a.connections),
      "--paths",
      "/r/,/s/",
      "--max-seconds",
      String(maxLoadS),
    ],
    { cpu: LOAD_CPU },
  );

  /** Aviary's `time` (Date.now() when it logged) of a JSON log line. */
  const logTime = (line: string): number => (JSON.parse(line) as { time: number }).time;
  /** A random 0-50 ms wait, so the command does not land in step with the bench's own polling. */
  const jitter = (): Promise<void> => sleep(Math.random() * 50);

  const abortTrial = async (n: number): Promise<AbortTrial> => {
    const dep = await api.call("POST", "/api/v1/services/roll/deploy", {
      version: `c${n}`,
      targets: [canaryOrigin],
    });
    const deployed = (dep.body as { rollout?: { traffic: { weight: number } } }).rollout;
    if (dep.status !== 201 || deployed?.traffic.weight !== 50) {
      throw new Error(`deploy c${n}: HTTP ${dep.status} ${JSON.stringify(dep.body).slice(0, 300)}`);
    }
    await watch.waitFlowing();
    await jitter();
    const logged = logs.next(['"event":"aborted"']);
    const res = await api.call("POST", "/api/v1/services/roll/abort", {
      reason: `bench:rollback trial ${n}`,
    });
    const r = (res.body as { rollout?: { phase: string; updatedAt: number } }).rollout;
    if (res.status !== 200 || r?.phase !== "Aborted") {
      throw new Error(`abort c${n}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    }
    const s = await watch.settle();
    if (!s.settled) throw new Error(`abort c${n}: the canary still received requests 5 s later`);
    const swapAt = logTime((await logged).line);
    const toZero = watch.local(s.lastAt) - res.sentAt;
    return {
      toZeroMs: Math.max(0, toZero),
      arrivalsAfter: toZero > 0,
      apiMs: res.ms,
      controllerMs: r.updatedAt - res.sentAt,
      swapMs: swapAt - res.sentAt,
      commitMs: swapAt - r.updatedAt,
    };
  };

  /** Rewrites the static service's weight and sends SIGHUP; resolves once the reload is logged. */
  const hup = async (weight: number) => {
    writeSpec(specFile, p, weight);
    const traffic = logs.next(['"event":"traffic.set"']);
    const done = logs.next(["spec reloaded", "spec reload refused"]);
    const sentAt = nowMs();
    process.kill(aviary.pid, "SIGHUP");
    const { line } = await done;
    if (line.includes("refused")) throw new Error(`spec reload refused: ${line.slice(0, 300)}`);
    return { sentAt, swapAt: logTime((await traffic).line), doneAt: logTime(line) };
  };

  const reloadTrial = async (): Promise<ReloadTrial> => {
    await hup(50);
    await watch.waitFlowing();
    await jitter();
    const { sentAt, swapAt, doneAt } = await hup(0);
    const s = await watch.settle();
    if (!s.settled) throw new Error("spec reload: the canary still received requests 5 s later");
    const toZero = watch.local(s.lastAt) - sentAt;
    return {
      toZeroMs: Math.max(0, toZero),
      arrivalsAfter: toZero > 0,
      swapMs: swapAt - sentAt,
      doneMs: doneAt - sentAt,
    };
  };

  const aborts: AbortTrial[] = [];
  const reloads: ReloadTrial[] = [];
  let loadResult: LoadResult | undefined;
  let aviaryCpuPct = Number.NaN;
  let otherCpuPct = Number.NaN;
  let ok = true;
  try {
    await waitReady(`${listenOrigin}/s/ready`, load);
    await sleep(a.warmupS * 1000);
    if (load.done) throw new Error(`the load generator exited: ${tail(load.stderr)}`);
    // One unrecorded trial of each kind: first pools, JIT.
    await abortTrial(0);
    if (a.peer) await reloadTrial();
    say(
      `warm-up: ${a.warmupS} s of load and one unrecorded trial of each kind; then ${a.trials} trial(s)` +
        (a.peer ? ", each abort followed by a spec-reload trial" : ""),
    );
    say();

    const ourPids = [...processTree(aviary.pid), stable.pid, canary.pid, load.pid];
    const aviary0 = cpuSeconds(processTree(aviary.pid));
    const ours0 = cpuSeconds(ourPids);
    const self0 = selfAndReapedSeconds();
    const cores0 = coreTimes();
    const t0 = performance.now();
    for (let i = 1; i <= a.trials; i++) {
      const ab = await abortTrial(i);
      aborts.push(ab);
      const zero = (t: { toZeroMs: number; arrivalsAfter: boolean }) =>
        t.arrivalsAfter ? `${fmt(t.toZeroMs).padStart(5)} ms` : "none   ";
      let line =
        `trial ${String(i).padStart(3)}/${a.trials}  abort: to zero ${zero(ab)}  API ${fmt(ab.apiMs).padStart(5)} ms` +
        `  (Aviary: took it ${ms0(ab.controllerMs)}, swapped ${ms0(ab.swapMs)})`;
      if (a.peer) {
        const re = await reloadTrial();
        reloads.push(re);
        line += `   reload: to zero ${zero(re)}  (Aviary: swapped ${ms0(re.swapMs)}, done ${ms0(re.doneMs)})`;
      }
      say(line);
    }
    const wallS = (performance.now() - t0) / 1000;
    const cores1 = coreTimes();
    aviaryCpuPct = (100 * (cpuSeconds(processTree(aviary.pid)) - aviary0)) / wallS;
    const ours = cpuSeconds(ourPids) - ours0 + (selfAndReapedSeconds() - self0);
    otherCpuPct = Math.max(0, (100 * (busySeconds(cores0, cores1) - ours)) / wallS);
  } finally {
    if (!load.done) await stop(load);
    const line = load.stdout.split("\n").find((l) => l.startsWith(LOAD_MARK));
    if (line !== undefined) loadResult = JSON.parse(line.slice(LOAD_MARK.length)) as LoadResult;
  }

  const cal1 = await watch.calibrate();
  const final = await api.call("GET", "/api/v1/services");
  const services = (
    final.body as {
      services?: Array<{ name: string; traffic: { canary: unknown; weight: number } }>;
    }
  ).services;
  const cutOff =
    services?.every((s) => s.traffic.canary === null || s.traffic.weight === 0) ?? false;
  await Promise.all([api.close(), watch.close()]);
  await stopAll();
  const left: number[] = [];
  for (const port of ports) if (await listening(port)) left.push(port);

  // ---- report ----
  say();
  if (loadResult === undefined) {
    say(`load generator: no result (${tail(load.stderr)})`);
    ok = false;
  }
  const failed = loadResult ? loadResult.non2xx + loadResult.errors : Number.NaN;
  const toZero = stat(aborts.map((t) => t.toZeroMs));
  const apiStat = stat(aborts.map((t) => t.apiMs));
  const took = stat(aborts.map((t) => t.controllerMs));
  const swap = stat(aborts.map((t) => t.swapMs));
  const commit = stat(aborts.map((t) => t.commitMs));
  const arrivals = aborts.filter((t) => t.arrivalsAfter).length;
  const peer =
    reloads.length > 0
      ? {
          toZero: stat(reloads.map((t) => t.toZeroMs)),
          swap: stat(reloads.map((t) => t.swapMs)),
          done: stat(reloads.map((t) => t.doneMs)),
          arrivals: reloads.filter((t) => t.arrivalsAfter).length,
        }
      : undefined;
  /** a ÷ b, or null when b is 0 (nothing to divide by: both reached zero at once). */
  const ratio = (x: number, y: number): number | null => (y > 0 ? x / y : null);
  const showRatio = (r: number | null): string => (r === null ? "n/a" : `× ${r.toFixed(2)}`);
  const col = (label: string) => `  ${label.padEnd(54)}`;

  say(
    `Results — ${aborts.length} trial(s) of each kind; nearest-rank percentiles (below 100 trials p99 is the largest)`,
  );
  say("  time to zero = the canary upstream's last arrival − the moment the command was sent");
  say(
    `${col("abort by command (POST …/abort): time to zero")}${show(toZero)}   target p99 ≤ ${TARGET_P99_MS} ms`,
  );
  say(
    `    the canary received requests after the send in ${arrivals} of ${aborts.length} trial(s)` +
      (arrivals < aborts.length
        ? "; in the others the abort landed before the next one (counted as 0 ms)"
        : ""),
  );
  say(`${col("abort API response time")}${show(apiStat)}`);
  say(`${col("  Aviary took it (its clock, whole ms)")}${show(took)}`);
  say(`${col("  Aviary swapped the router (logged, whole ms)")}${show(swap)}`);
  say(`${col("  of which the commit (SQLite, fsync) before it")}${show(commit)}`);
  say("  abort by verdict: not measured by this benchmark yet — every trial aborts by command");
  if (peer) {
    say(`${col("peer: spec edit (weight: 0) + SIGHUP: time to zero")}${show(peer.toZero)}`);
    say(
      `    the canary received requests after the signal in ${peer.arrivals} of ${reloads.length} trial(s)`,
    );
    say(`${col("  Aviary swapped the router (logged, whole ms)")}${show(peer.swap)}`);
    say(`${col('  Aviary logged "spec reloaded" (whole ms)')}${show(peer.done)}`);
    say(
      `  ratio, spec reload ÷ abort: time to zero ${showRatio(ratio(peer.toZero.p50Ms, toZero.p50Ms))} at p50, ` +
        `${showRatio(ratio(peer.toZero.p99Ms, toZero.p99Ms))} at p99; router swap ${showRatio(ratio(peer.swap.p50Ms, swap.p50Ms))} at p50, ` +
        `${showRatio(ratio(peer.swap.p99Ms, swap.p99Ms))} at p99`,
    );
  }
  if (loadResult) {
    const rps = loadResult.requests / Math.max(loadResult.seconds, 1e-9);
    say(
      `  load: ${loadResult.requests} requests in ${loadResult.seconds.toFixed(0)} s (${rps.toFixed(0)} req/s), ` +
        `${loadResult.canary} answered by the canary; latency p50 ${fmt(loadResult.p50Ms)} ms, p99 ${fmt(loadResult.p99Ms)} ms, max ${fmt(loadResult.maxMs)} ms; ` +
        `failed: ${failed} (non-2xx ${loadResult.non2xx}, socket errors ${loadResult.errors})`,
    );
    for (const s of loadResult.samples) say(`    failure: ${s}`);
    if (failed > 0) ok = false;
  }
  say(
    `  CPU during the trials: aviary ${aviaryCpuPct.toFixed(0)} % of one core; other processes ${otherCpuPct.toFixed(0)} % of one CPU` +
      (otherCpuPct > 10 ? " — the machine was not quiet, the figures are noisy" : ""),
  );
  say(
    `  clocks: offset ${cal0.offsetMs.toFixed(3)} ms before, ${cal1.offsetMs.toFixed(3)} ms after (drift ${(cal1.offsetMs - cal0.offsetMs).toFixed(3)} ms)`,
  );
  if (!cutOff) {
    say("  PROBLEM: at the end a service still names a canary with weight > 0");
    ok = false;
  }
  say("(the target is printed for comparison only; timing never changes the exit code)");
  say(
    `all processes stopped; ${left.length === 0 ? "no port left listening" : `STILL LISTENING: ${left.join(", ")}`}`,
  );
  if (left.length > 0) ok = false;

  if (a.json) {
    const out = {
      ...jsonStat(toZero),
      failedRequests: failed,
      trials: aborts.length,
      abortBy: "command",
      trialsWithArrivalsAfterSend: arrivals,
      abortApi: jsonStat(apiStat),
      aviaryTookAbort: jsonStat(took),
      aviarySwapped: jsonStat(swap),
      commit: jsonStat(commit),
      peer: peer
        ? {
            kind: "spec edit (weight 0) + SIGHUP",
            ...jsonStat(peer.toZero),
            trialsWithArrivalsAfterSend: peer.arrivals,
            aviarySwapped: jsonStat(peer.swap),
            reloadLogged: jsonStat(peer.done),
          }
        : null,
      ratios: peer
        ? {
            reloadOverAbortP50: round(ratio(peer.toZero.p50Ms, toZero.p50Ms), 3),
            reloadOverAbortP99: round(ratio(peer.toZero.p99Ms, toZero.p99Ms), 3),
            swapReloadOverAbortP50: round(ratio(peer.swap.p50Ms, swap.p50Ms), 3),
            swapReloadOverAbortP99: round(ratio(peer.swap.p99Ms, swap.p99Ms), 3),
          }
        : null,
      load: loadResult
        ? {
            rps: round(loadResult.requests / loadResult.seconds, 0),
            requests: loadResult.requests,
            connections: a.connections,
            p50Ms: round(loadResult.p50Ms, 2),
            p99Ms: round(loadResult.p99Ms, 2),
            maxMs: round(loadResult.maxMs, 2),
          }
        : null,
      aviaryCpuPct: round(aviaryCpuPct, 1),
      otherCpuPct: round(otherCpuPct, 1),
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
  return ok;
}

installCleanup(say);
let ok = false;
try {
  ok = await main(opts);
} catch (err) {
  if (wasInterrupted()) await new Promise(() => {});
  say(`bench:rollback: ${(err as Error).stack ?? String(err)}`);
} finally {
  await stopAll();
}
process.exitCode = ok ? 0 : 1;
