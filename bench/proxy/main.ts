/**
 * `npm run bench:proxy`: Aviary's router against the upstream directly, nginx, fastify
 * reply-from and node-http-proxy, all doing the same sticky 90/10 split on `x-user-id` over
 * two upstream processes, measured in one run with interleaved rounds (see bench/README.md
 * and shared/research/anchors-dataplane.md Part A for the protocol).
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchArgs, parseArgs, USAGE, UsageError } from "./args.js";
import { serveCli, startAviary } from "./aviary.js";
import { runPaced } from "./fixed-rate.js";
import { backgroundLoad, sampleAround } from "./measure.js";
import { adoptWorkers, findNginx, startNginx } from "./nginx.js";
import { aviaryRequestsTotal, checkSticky, waitReady } from "./probe.js";
import {
  canPin,
  freePorts,
  installCleanup,
  listening,
  type Proc,
  pinningEnabled,
  pinSelf,
  registerTempDir,
  removeTempDirs,
  setPinning,
  stop,
  stopAll,
  wasInterrupted,
} from "./procs.js";
import {
  type FixedRateSummary,
  type FixedRun,
  fixedRateTable,
  goalsReport,
  jsonReport,
  type Run,
  type Summary,
  summarize,
  summarizeFixedRate,
  throughputTable,
} from "./report.js";
import { LABELS, startNodePeer, startUpstream, type Target, type TargetKey } from "./targets.js";
import { runWrk, writeWrkScript } from "./wrk.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** wrk, the paced generator, the upstreams and this process. */
const LOAD_CPU = 0;
/** The proxy under test. */
const PROXY_CPU = 1;
const FIXED_RATE = 1000;
const FIXED_RATE_TARGETS: readonly TargetKey[] = ["direct", "aviary", "nginx"];

let args: BenchArgs | undefined;
try {
  args = parseArgs(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`bench:proxy: ${err.message}\n${USAGE}\n`);
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

function which(cmd: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** wrk and nginx, installed with scripts/install-system-deps.sh when missing. */
function tools(): { wrk: string; nginx: string } {
  let wrk = which("wrk");
  let nginx = findNginx();
  if (wrk === undefined || nginx === undefined) {
    say("wrk or nginx is missing: running scripts/install-system-deps.sh");
    const r = spawnSync("bash", ["scripts/install-system-deps.sh"], {
      cwd: ROOT,
      stdio: ["ignore", 2, 2],
    });
    if (r.status !== 0) throw new Error("scripts/install-system-deps.sh failed");
    wrk = which("wrk");
    nginx = findNginx();
  }
  if (wrk === undefined || nginx === undefined) throw new Error("wrk or nginx still missing");
  return { wrk, nginx };
}

function nginxVersion(bin: string): string {
  const r = spawnSync(bin, ["-v"], { encoding: "utf8" });
  return (r.stderr || r.stdout).trim().replace(/^nginx version: /, "");
}

async function main(a: BenchArgs): Promise<boolean> {
  let ok = true;
  const bin = tools();
  const cpus = os.cpus();
  setPinning(a.pin && canPin(cpus.length));
  if (pinningEnabled()) pinSelf(LOAD_CPU);

  say(`Aviary proxy benchmark — ${new Date().toISOString()}`);
  say(
    `machine: ${cpus.length} × ${cpus[0]?.model ?? "?"}; node ${process.version}; nginx ${nginxVersion(bin.nginx)}`,
  );
  say(
    pinningEnabled()
      ? `pinning: wrk, paced generator, upstreams and orchestrator on CPU${LOAD_CPU}; each proxy on CPU${PROXY_CPU}`
      : `pinning: off (${a.pin ? "taskset missing or fewer than 2 CPUs" : "--no-pin"})`,
  );
  say(
    `load: wrk -t1 -c${a.connections}, random x-user-id per request; ${a.warmupS} s warm-up per target, ` +
      `then ${a.rounds} interleaved round(s) × ${a.durationS} s, order alternating`,
  );
  say(
    `background load before start (other processes, 1 s): ${(await backgroundLoad()).toFixed(0)} % of one CPU`,
  );
  say();

  const dir = mkdtempSync(join(os.tmpdir(), "aviary-bench-"));
  registerTempDir(dir);
  const script = writeWrkScript(dir);
  const ports = await freePorts(8);
  const [
    stablePort,
    canaryPort,
    aviaryPort,
    adminPort,
    nginxPort,
    httpProxyPort,
    replyFromPort,
    undiciPort,
  ] = ports as [number, number, number, number, number, number, number, number];
  const split = { stable: stablePort, canary: canaryPort };

  // Upstreams first: every proxy needs them.
  const stable = startUpstream("stable", stablePort, LOAD_CPU);
  const canary = startUpstream("canary", canaryPort, LOAD_CPU);
  const stableOrigin = `http://127.0.0.1:${stablePort}`;
  const canaryOrigin = `http://127.0.0.1:${canaryPort}`;
  await waitReady(`${stableOrigin}/__count`, stable);
  await waitReady(`${canaryOrigin}/__count`, canary);
  say(
    `upstreams: stable ${stableOrigin} (pid ${stable.pid}), canary ${canaryOrigin} (pid ${canary.pid})`,
  );

  const targets: Target[] = [];
  const starters: Record<Exclude<TargetKey, "direct">, () => Proc | undefined> = {
    aviary: () => {
      const cli = serveCli(ROOT);
      if ("missing" in cli) {
        say(`aviary: not measured: ${cli.missing} (peers only)`);
        return undefined;
      }
      if ("broken" in cli) {
        say(`aviary: FAILED: ${cli.broken}`);
        ok = false;
        return undefined;
      }
      const p = { listen: aviaryPort, admin: adminPort, ...split };
      return startAviary(ROOT, dir, cli, p, PROXY_CPU);
    },
    nginx: () => startNginx(bin.nginx, dir, { listen: nginxPort, ...split }, PROXY_CPU),
    nodeHttpProxy: () =>
      startNodePeer("nodeHttpProxy", { listen: httpProxyPort, ...split }, PROXY_CPU),
    fastifyReplyFrom: () =>
      startNodePeer("fastifyReplyFrom", { listen: replyFromPort, ...split }, PROXY_CPU),
    undiciStream: () => startNodePeer("undiciStream", { listen: undiciPort, ...split }, PROXY_CPU),
  };
  const listenPort: Record<TargetKey, number> = {
    direct: stablePort,
    aviary: aviaryPort,
    nginx: nginxPort,
    nodeHttpProxy: httpProxyPort,
    fastifyReplyFrom: replyFromPort,
    undiciStream: undiciPort,
  };
  for (const key of a.only) {
    const url = `http://127.0.0.1:${listenPort[key]}/`;
    if (key === "direct") {
      targets.push({ key, label: LABELS[key], url, proc: undefined });
      continue;
    }
    const proc = starters[key]();
    if (proc === undefined) continue;
    try {
      await waitReady(url, proc);
      const workers = key === "nginx" ? adoptWorkers(proc) : [];
      const s = await checkSticky(url);
      say(
        `${LABELS[key]}: ready on ${url} (pid ${proc.pid}${workers.length ? `, worker ${workers.join(" ")}` : ""}); ` +
          `sticky check ${s.users} users × 2: ${s.flipped} flipped, ${s.failed} failed, ${s.onCanary} on canary`,
      );
      if (s.flipped > 0 || s.failed > 0) ok = false;
      targets.push({ key, label: LABELS[key], url, proc });
    } catch (err) {
      if (wasInterrupted()) throw err;
      say(`${LABELS[key]}: FAILED to start: ${(err as Error).message}`);
      await stop(proc);
      ok = false;
    }
  }
  say();

  const upstreams = { pids: [stable.pid, canary.pid], stableOrigin, canaryOrigin };
  const wrkRun = (t: Target, durationS: number) =>
    runWrk({
      wrk: bin.wrk,
      url: t.url,
      script,
      connections: a.connections,
      durationS,
      cpu: LOAD_CPU,
    });
  const measure = (t: Target): Promise<Run> =>
    sampleAround(t.proc?.pid, upstreams, () => wrkRun(t, a.durationS));

  const dropped = new Set<TargetKey>();
  if (a.throughput && a.warmupS > 0) {
    for (const t of targets) {
      try {
        await wrkRun(t, a.warmupS);
      } catch (err) {
        if (wasInterrupted()) throw err;
        say(`${t.label}: warm-up failed: ${(err as Error).message}`);
        dropped.add(t.key);
        ok = false;
      }
    }
    say(`warm-up done (${a.warmupS} s per target)`);
  }

  const runs = new Map<TargetKey, Run[]>();
  for (let round = 0; a.throughput && round < a.rounds; round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      if (dropped.has(t.key)) continue;
      try {
        const r = await measure(t);
        runs.set(t.key, [...(runs.get(t.key) ?? []), r]);
        const canaryPct = (100 * r.canary) / Math.max(1, r.stable + r.canary);
        const cpu =
          r.proxyCpuS === null
            ? ""
            : `  proxy ${((1e6 * r.proxyCpuS) / r.result.requests).toFixed(1)} µs/req`;
        say(
          `round ${round + 1}/${a.rounds}  ${t.label.padEnd(20)} ${r.result.rps.toFixed(0).padStart(6)} req/s  ` +
            `p50 ${r.result.p50Ms.toFixed(2)} ms  p99 ${r.result.p99Ms.toFixed(2)} ms${cpu}  canary ${canaryPct.toFixed(1)} %` +
            `  other load ${r.otherCpuPct.toFixed(0)} %` +
            (r.result.non2xx + r.result.socketErrors > 0
              ? `  non-2xx ${r.result.non2xx} socket errors ${r.result.socketErrors}`
              : ""),
        );
      } catch (err) {
        if (wasInterrupted()) throw err;
        say(`${t.label}: run failed, dropped from the rest: ${(err as Error).message}`);
        dropped.add(t.key);
        ok = false;
      }
    }
  }

  const fixed = new Map<TargetKey, FixedRateSummary>();
  if (a.fixedRate) {
    const fixedTargets = targets.filter(
      (t) => FIXED_RATE_TARGETS.includes(t.key) && !dropped.has(t.key),
    );
    say();
    say(
      `fixed rate: ${FIXED_RATE} req/s open loop from a Node + undici paced generator (bench/proxy/paced.ts) ` +
        `on CPU${LOAD_CPU}; ${a.rounds} round(s) × ${a.durationS} s per target after 1 s unrecorded`,
    );
    const paced = new Map<TargetKey, FixedRun[]>();
    if (!a.throughput && a.warmupS > 0) {
      // Nothing has warmed the proxies up yet: a cold Node proxy stalls for a while.
      for (const t of fixedTargets) {
        const warm = { url: t.url, rate: FIXED_RATE, durationS: a.warmupS, warmupS: 0 };
        await runPaced({ ...warm, cpu: LOAD_CPU });
      }
      say(`warm-up done (${a.warmupS} s per target at ${FIXED_RATE} req/s)`);
    }
    for (let round = 0; round < a.rounds; round++) {
      const order = round % 2 === 0 ? fixedTargets : [...fixedTargets].reverse();
      for (const t of order) {
        if (dropped.has(t.key)) continue;
        try {
          const run = await sampleAround(t.proc?.pid, upstreams, () =>
            runPaced({
              url: t.url,
              rate: FIXED_RATE,
              durationS: a.durationS,
              warmupS: 1,
              cpu: LOAD_CPU,
            }),
          );
          paced.set(t.key, [...(paced.get(t.key) ?? []), run]);
          const r = run.result;
          say(
            `round ${round + 1}/${a.rounds}  ${t.label.padEnd(20)} ${String(r.ratePerS).padStart(5)} req/s  ` +
              `p50 ${r.p50Ms.toFixed(3)} ms  p99 ${r.p99Ms.toFixed(3)} ms  max ${r.maxMs.toFixed(2)} ms` +
              `  send lag p99 ${r.lagP99Ms.toFixed(2)} ms  other load ${run.otherCpuPct.toFixed(0)} %` +
              (r.errors + r.non2xx > 0 ? `  non-2xx ${r.non2xx} errors ${r.errors}` : ""),
          );
        } catch (err) {
          if (wasInterrupted()) throw err;
          say(
            `${t.label}: fixed-rate run failed, dropped from the rest: ${(err as Error).message}`,
          );
          dropped.add(t.key);
          ok = false;
        }
      }
    }
    for (const [key, rs] of paced) fixed.set(key, summarizeFixedRate(key, rs));
  }

  if (targets.some((t) => t.key === "aviary")) {
    // "Metrics on": Aviary's own counter should have seen every request sent to it.
    try {
      const counted = await aviaryRequestsTotal(`http://127.0.0.1:${adminPort}`);
      say(
        counted === undefined
          ? "aviary /metrics: no aviary_requests_total series"
          : `aviary /metrics: aviary_requests_total = ${counted} (all requests sent to Aviary, warm-up and checks included)`,
      );
    } catch (err) {
      say(`aviary /metrics: ${(err as Error).message}`);
    }
  }

  // Stop everything before reporting, and check that nothing is left listening.
  await stopAll();
  const left: number[] = [];
  for (const port of ports) if (await listening(port)) left.push(port);
  if (left.length > 0) {
    say(`WARNING: still listening after stop: ${left.join(", ")}`);
    ok = false;
  }

  const summaries = new Map<TargetKey, Summary>();
  for (const t of targets) {
    const rs = runs.get(t.key);
    if (rs !== undefined && rs.length > 0) summaries.set(t.key, summarize(t.key, rs));
  }
  if (summaries.size > 0) {
    say();
    say(
      `Throughput — median of ${a.rounds} round(s) × ${a.durationS} s (p50/p99: median of rounds; ` +
        "CPU: utime+stime over the measured runs ÷ requests; canary: share the canary upstream counted)",
    );
    say(throughputTable([...summaries.values()]));
    say(
      "A3 = the research's figures for this same setup (anchors-dataplane.md A3; for direct, the upstream's CPU); " +
        "compare 'upstr µs/req' of direct with 12.7 to see how fast the machine is today.",
    );
  }
  if (fixed.size > 0) {
    say();
    say(
      `Latency at a fixed ${FIXED_RATE} req/s (the direct row is the generator + upstream alone, i.e. the generator's own overhead; ` +
        "added p99 = target p99 − direct p99, medians of rounds; send lag = how late the generator sent against its schedule)",
    );
    say(fixedRateTable([...fixed.values()]));
  }
  const noisy = Math.max(
    0,
    ...[...summaries.values()].map((x) => x.otherCpuPct),
    ...[...fixed.values()].map((x) => x.otherCpuPct),
  );
  if (noisy > 10) {
    say();
    say(
      `NOTE: other processes on this machine used up to ${noisy.toFixed(0)} % of a CPU during the runs ` +
        "(median per target, column 'other %'); the figures are noisy, re-run on a quiet machine.",
    );
  }
  say();
  say(goalsReport(summaries, fixed));
  say("(goals are printed for comparison only; timing never changes the exit code)");
  say();
  say(
    `all processes stopped; ${left.length === 0 ? "no port left listening" : "SEE WARNING ABOVE"}`,
  );

  if (opts.json) process.stdout.write(`${JSON.stringify(jsonReport(summaries, fixed))}\n`);
  return ok;
}

installCleanup(say);
let ok = false;
try {
  ok = await main(opts);
} catch (err) {
  if (wasInterrupted()) await new Promise(() => {}); // the signal handler cleans up and exits
  say(`bench:proxy: ${(err as Error).stack ?? String(err)}`);
} finally {
  await stopAll();
  removeTempDirs();
}
process.exitCode = ok ? 0 : 1;
