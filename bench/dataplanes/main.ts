/**
 * `npm run bench:dataplanes`: what each data plane costs for the same sticky 90/10 split on
 * `x-user-id` over the same two upstream processes — bare HAProxy and bare nginx (hand-written
 * configs, no logging), Aviary's embedded router (`aviary serve`), and the HAProxy and nginx
 * Aviary drives through its traffic providers (entries of {@link DRIVEN_ENGINES}, added by
 * those providers). wrk at 50 connections with a random user id per request (bench/proxy's
 * wrk script), interleaved runs (A B C A B C …), CPU per request from /proc/<pid>/stat of each
 * engine's whole process tree over its runs. See bench/README.md.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serveCli, startAviary } from "../proxy/aviary.js";
import { backgroundLoad, type Sample, sampleAround } from "../proxy/measure.js";
import { adoptWorkers, findNginx, startNginx } from "../proxy/nginx.js";
import { checkSticky, waitReady } from "../proxy/probe.js";
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
  stopAll,
  wasInterrupted,
} from "../proxy/procs.js";
import { startUpstream } from "../proxy/targets.js";
import { runWrk, type WrkRun, writeWrkScript } from "../proxy/wrk.js";
import { type DataplaneArgs, parseArgs, USAGE, UsageError } from "./args.js";
import { SERVICE } from "./driven.js";
import {
  BARE_LABELS,
  DRIVEN_ENGINES,
  type DrivenEngine,
  EMBEDDED_LABEL,
  type EngineContext,
  type RunningEngine,
} from "./engines.js";
import { findHaproxy, haproxyVersion, startHaproxy } from "./haproxy.js";
import { type EntryKey, jsonReport, type SwitchResult, summarize, table } from "./report.js";
import { measureSwitches, percentile, SWITCHES } from "./switches.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** wrk, the upstreams and this process. */
const LOAD_CPU = 0;
/** The engine under test. */
const ENGINE_CPU = 1;

let parsed: DataplaneArgs | undefined;
try {
  parsed = parseArgs(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`bench:dataplanes: ${err.message}\n${USAGE}\n`);
  process.exit(2);
}
if (parsed === undefined) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const opts = parsed;
/** Driven engines started: stopped through their own starter (they are not `launch`ed). */
const drivenRunning: RunningEngine[] = [];
async function stopDriven(): Promise<void> {
  for (const r of drivenRunning.splice(0)) await r.stop().catch(() => undefined);
}
const human = opts.json ? process.stderr : process.stdout;
const say = (line = ""): void => {
  human.write(`${line}\n`);
};

/** One measured entry: where the load goes and whose CPU counts. */
interface Entry {
  key: EntryKey;
  label: string;
  url: string;
  proc: Proc;
  driven: DrivenEngine | undefined;
}

/** wrk, haproxy and nginx; a missing one is an error naming how to install it. */
function tools(): { wrk: string; haproxy: string; nginx: string } {
  const r = spawnSync("sh", ["-c", "command -v wrk"], { encoding: "utf8" });
  const wrk = r.status === 0 ? r.stdout.trim() : undefined;
  const haproxy = findHaproxy();
  const nginx = findNginx();
  const missing = [
    wrk === undefined ? "wrk (apt-get install -y wrk)" : "",
    haproxy === undefined ? "haproxy (apt-get install -y haproxy)" : "",
    nginx === undefined ? "nginx (apt-get install -y nginx libnginx-mod-http-lua)" : "",
  ].filter((s) => s !== "");
  if (wrk === undefined || haproxy === undefined || nginx === undefined)
    throw new Error(`missing: ${missing.join(", ")}; or run scripts/install-system-deps.sh`);
  return { wrk, haproxy, nginx };
}

async function main(a: DataplaneArgs): Promise<boolean> {
  let ok = true;
  const bin = tools();
  const cpus = os.cpus();
  setPinning(a.pin && canPin(cpus.length));
  if (pinningEnabled()) pinSelf(LOAD_CPU);
  const nginxV = (spawnSync(bin.nginx, ["-v"], { encoding: "utf8" }).stderr ?? "").trim();

  say(`Aviary data-plane benchmark — ${new Date().toISOString()}`);
  say(
    `machine: ${cpus.length} × ${cpus[0]?.model ?? "?"}; node ${process.version}; ` +
      `HAProxy ${haproxyVersion(bin.haproxy)}; ${nginxV.replace(/^nginx version: /, "nginx ")}`,
  );
  say(
    pinningEnabled()
      ? `pinning: wrk, upstreams and orchestrator on CPU${LOAD_CPU}; each engine on CPU${ENGINE_CPU}`
      : `pinning: off (${a.pin ? "taskset missing or fewer than 2 CPUs" : "--no-pin"})`,
  );
  say(
    `load: wrk -t1 -c${a.connections}, random x-user-id per request; ${a.warmupS} s warm-up per engine, ` +
      `then ${a.rounds} interleaved round(s) × ${a.durationS} s`,
  );
  say(
    `driven engines: ${DRIVEN_ENGINES.length === 0 ? "none yet (the HAProxy and nginx providers add theirs to DRIVEN_ENGINES in bench/dataplanes/engines.ts); their figures are null" : DRIVEN_ENGINES.map((d) => d.label).join(", ")}`,
  );
  say(
    `background load before start (other processes, 1 s): ${(await backgroundLoad()).toFixed(0)} % of one CPU`,
  );
  say();

  const dir = mkdtempSync(join(os.tmpdir(), "aviary-bench-dataplanes-"));
  registerTempDir(dir);
  const script = writeWrkScript(dir);
  const ports = await freePorts(6 + DRIVEN_ENGINES.length);
  const [stablePort, canaryPort, haproxyPort, nginxPort, aviaryPort, adminPort, ...drivenPorts] =
    ports as [number, number, number, number, number, number, ...number[]];
  const split = { stable: stablePort, canary: canaryPort };
  const stable = startUpstream("stable", stablePort, LOAD_CPU);
  const canary = startUpstream("canary", canaryPort, LOAD_CPU);
  const stableOrigin = `http://127.0.0.1:${stablePort}`;
  const canaryOrigin = `http://127.0.0.1:${canaryPort}`;
  await waitReady(`${stableOrigin}/__count`, stable);
  await waitReady(`${canaryOrigin}/__count`, canary);
  const upstreams = { pids: [stable.pid, canary.pid], stableOrigin, canaryOrigin };

  // Start every entry; one that does not start is reported and left out, the others still run.
  const entries: Entry[] = [];
  const starters: Array<{ key: EntryKey; label: string; start: () => Promise<Entry> }> = [
    {
      key: "bare.haproxy",
      label: BARE_LABELS.haproxy,
      start: async () => {
        const proc = startHaproxy(bin.haproxy, dir, { listen: haproxyPort, ...split }, ENGINE_CPU);
        return entry("bare.haproxy", BARE_LABELS.haproxy, haproxyPort, proc);
      },
    },
    {
      key: "bare.nginx",
      label: BARE_LABELS.nginx,
      start: async () => {
        const proc = startNginx(bin.nginx, dir, { listen: nginxPort, ...split }, ENGINE_CPU);
        const e = entry("bare.nginx", BARE_LABELS.nginx, nginxPort, proc);
        await waitReady(e.url, proc);
        adoptWorkers(proc);
        return e;
      },
    },
    {
      key: "embedded",
      label: EMBEDDED_LABEL,
      start: async () => {
        const cli = serveCli(ROOT);
        if (!("specFlag" in cli)) throw new Error("missing" in cli ? cli.missing : cli.broken);
        const p = { listen: aviaryPort, admin: adminPort, ...split };
        return entry(
          "embedded",
          EMBEDDED_LABEL,
          aviaryPort,
          startAviary(ROOT, dir, cli, p, ENGINE_CPU),
        );
      },
    },
    ...DRIVEN_ENGINES.map((d, i) => ({
      key: `driven.${d.key}` as EntryKey,
      label: d.label,
      start: async () => {
        const ctx: EngineContext = {
          dir: join(dir, `driven-${d.key}`),
          listen: drivenPorts[i] as number,
          stablePort,
          canaryPort,
          cpu: ENGINE_CPU,
        };
        mkdirSync(ctx.dir, { recursive: true });
        const running = await d.start(ctx);
        drivenRunning.push(running);
        return {
          key: `driven.${d.key}` as EntryKey,
          label: d.label,
          url: running.url,
          proc: running.proc,
          driven: d,
        };
      },
    })),
  ];
  for (const s of starters) {
    try {
      const e = await s.start();
      await waitReady(e.url, e.proc);
      const sticky = await checkSticky(e.url);
      say(
        `${e.label}: ready on ${e.url} (pid ${e.proc.pid}${e.proc.extraPids.length ? `, workers ${e.proc.extraPids.join(" ")}` : ""}); ` +
          `sticky check ${sticky.users} users × 2: ${sticky.flipped} flipped, ${sticky.failed} failed, ${sticky.onCanary} on canary`,
      );
      if (sticky.flipped > 0 || sticky.failed > 0) ok = false;
      entries.push(e);
    } catch (err) {
      if (wasInterrupted()) throw err;
      say(`${s.label}: FAILED to start: ${(err as Error).message}`);
      ok = false;
    }
  }
  say();

  const wrkRun = (e: Entry, durationS: number) =>
    runWrk({
      wrk: bin.wrk,
      url: e.url,
      script,
      connections: a.connections,
      durationS,
      cpu: LOAD_CPU,
    });
  const dropped = new Set<EntryKey>();
  if (a.warmupS > 0) {
    for (const e of entries) {
      try {
        await wrkRun(e, a.warmupS);
      } catch (err) {
        if (wasInterrupted()) throw err;
        say(`${e.label}: warm-up failed: ${(err as Error).message}`);
        dropped.add(e.key);
        ok = false;
      }
    }
    say(`warm-up done (${a.warmupS} s per engine)`);
  }

  // Interleaved: A B C, then C B A, … so no entry always runs first or last.
  const runs = new Map<EntryKey, Array<Sample<WrkRun>>>();
  for (let round = 0; round < a.rounds; round++) {
    const order = round % 2 === 0 ? entries : [...entries].reverse();
    for (const e of order) {
      if (dropped.has(e.key)) continue;
      try {
        const r = await sampleAround(e.proc.pid, upstreams, () => wrkRun(e, a.durationS));
        runs.set(e.key, [...(runs.get(e.key) ?? []), r]);
        const canaryPct = (100 * r.canary) / Math.max(1, r.stable + r.canary);
        const cpu =
          r.proxyCpuS === null
            ? ""
            : `  ${((1e6 * r.proxyCpuS) / r.result.requests).toFixed(1)} µs/req`;
        say(
          `round ${round + 1}/${a.rounds}  ${e.label.padEnd(40)} ${r.result.rps.toFixed(0).padStart(6)} req/s${cpu}` +
            `  p99 ${r.result.p99Ms.toFixed(2)} ms  canary ${canaryPct.toFixed(1)} %  other load ${r.otherCpuPct.toFixed(0)} %` +
            (r.result.non2xx + r.result.socketErrors > 0
              ? `  non-2xx ${r.result.non2xx} socket errors ${r.result.socketErrors}`
              : ""),
        );
      } catch (err) {
        if (wasInterrupted()) throw err;
        say(`${e.label}: run failed, dropped from the rest: ${(err as Error).message}`);
        dropped.add(e.key);
        ok = false;
      }
    }
  }

  // Driven engines only: weight changes through the provider while wrk runs (switches.ts).
  const switches = new Map<EntryKey, SwitchResult>();
  for (const e of entries) {
    if (e.driven === undefined || dropped.has(e.key)) continue;
    try {
      const s = await measureSwitches(e.url, SERVICE, e.driven, (durationS) =>
        wrkRun(e, durationS),
      );
      const failedRequests = s.wrk.non2xx + s.wrk.socketErrors + s.probeFailures;
      const p99Ms = percentile(s.times, 0.99);
      switches.set(e.key, { switches: s.switches, p99Ms, failedRequests });
      say(
        `${e.label}: ${s.switches} weight changes (10 ↔ 50 via apply) under load: time from apply returning to the first probe response on the new side ` +
          `p50 ${percentile(s.times, 0.5).toFixed(1)} ms, p99 ${p99Ms.toFixed(1)} ms, max ${Math.max(...s.times).toFixed(1)} ms` +
          `${s.unseen > 0 ? ` (${s.unseen} not seen within 5 s, counted as 5 s)` : ""}; ` +
          `failed requests ${failedRequests} (wrk: ${s.wrk.requests} requests, non-2xx ${s.wrk.non2xx}, socket errors ${s.wrk.socketErrors}; probe: ${s.probeRequests} requests, ${s.probeFailures} failed)` +
          `${s.notMoved > 0 ? `; WARNING: ${s.notMoved} probe(s) were not on the old side before the change` : ""}`,
      );
      if (s.switches < SWITCHES)
        say(`  (only ${s.switches} of ${SWITCHES} changes: wrk ended first)`);
    } catch (err) {
      if (wasInterrupted()) throw err;
      say(`${e.label}: switch run failed: ${(err as Error).message}`);
      ok = false;
    }
  }
  for (const e of entries) {
    const lines = e.driven?.logLines();
    if (lines !== undefined)
      say(
        `${e.label}: access-log lines received by Aviary's listener: ${lines.recorded} recorded, ` +
          `${lines.malformed} malformed, ${lines.foreign} foreign, ${lines.oversized} oversized`,
      );
  }

  await stopDriven();
  await stopAll();
  const left: number[] = [];
  for (const port of ports) if (await listening(port)) left.push(port);
  if (left.length > 0) {
    say(`WARNING: still listening after stop: ${left.join(", ")}`);
    ok = false;
  }

  const summaries = new Map([...runs].map(([key, rs]) => [key, summarize(key, rs)] as const));
  say();
  say(
    `Median of ${a.rounds} round(s) × ${a.durationS} s (CPU: utime+stime of the engine's process tree over the measured runs ÷ requests; ` +
      "canary: share the canary upstream counted)",
  );
  say(table(entries.map((e) => ({ label: e.label, summary: summaries.get(e.key) }))));
  const noisy = Math.max(0, ...[...summaries.values()].map((x) => x.otherCpuPct));
  if (noisy > 10)
    say(
      `NOTE: other processes used up to ${noisy.toFixed(0)} % of a CPU during the runs (median per entry): the figures are noisy.`,
    );
  say(
    `all processes stopped; ${left.length === 0 ? "no port left listening" : "SEE WARNING ABOVE"}`,
  );
  if (opts.json) process.stdout.write(`${JSON.stringify(jsonReport(summaries, switches))}\n`);
  return ok;
}

function entry(key: EntryKey, label: string, port: number, proc: Proc): Entry {
  return { key, label, url: `http://127.0.0.1:${port}/`, proc, driven: undefined };
}

installCleanup(say);
let ok = false;
try {
  ok = await main(opts);
} catch (err) {
  say(`bench:dataplanes: ${(err as Error).message}`);
} finally {
  await stopDriven();
  await stopAll();
  removeTempDirs();
}
process.exit(ok ? 0 : 1);
