/**
 * `npm run bench:flags`: flag evaluation over HTTP, Aviary's OFREP listener (single and bulk)
 * against the Unleash proxy serving the same flag, under the same load in one run, and the
 * compiled evaluator in-process. See bench/README.md for the protocol.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import type { EvaluationContext } from "@openfeature/server-sdk";
import { compileFlag } from "../../src/flags/evaluate.js";
import { Flag } from "../../src/flags/schema.js";
import { AviaryProvider } from "../../src/openfeature/index.js";
import { cpuSeconds, processTree } from "../proxy/cpu.js";
import {
  canPin,
  freePorts,
  installCleanup,
  listening,
  pinningEnabled,
  pinSelf,
  registerTempDir,
  removeTempDirs,
  setPinning,
  stopAll,
  wasInterrupted,
} from "../proxy/procs.js";
import { parseArgs, USAGE, UsageError } from "./args.js";
import {
  aviaryExpectation,
  aviaryFlag,
  BULK_FLAGS,
  bulkKeys,
  expectedOn,
  FLAG_KEY,
  unleashExpectation,
} from "./flag-set.js";
import { measureInProcess } from "./in-process.js";
import { type LoadKind, type LoadRun, runLoad, writeLoadScript } from "./load.js";
import { type MeasuredRun, printReport, type TargetResult, toJson } from "./report.js";
import {
  probe,
  startAviary,
  startUnleashProxy,
  unleashProxyVersion,
  waitListening,
} from "./targets.js";

const LOAD_CPU = 0;
const SERVER_CPU = 1;
const PROBE_USERS = 2_000;
const CLIENT_KEY = "bench-flags-client-key-0123456789abcdef";

interface Target {
  name: "ofrep" | "ofrepBulk" | "unleashProxy";
  label: string;
  kind: LoadKind;
  port: number;
  flags: number;
  expect: (n: number) => number;
  /** The server's pid, for its CPU time. */
  pid: number;
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  if (args === undefined) {
    console.log(USAGE);
    return 0;
  }
  const a = args;
  const say = (line: string): void => {
    (a.json ? process.stderr : process.stdout).write(`${line}\n`);
  };
  installCleanup(say);
  const root = process.cwd();
  if (!existsSync(join(root, "dist/cli/main.js")))
    throw new Error("dist/cli/main.js is not built: run npm run build (npm run bench:flags does)");
  const wrk = which("wrk");
  if (wrk === undefined)
    throw new Error(
      "wrk is not installed: run scripts/install-system-deps.sh (apt-get install wrk)",
    );
  setPinning(a.pin && canPin(os.cpus().length));
  if (pinningEnabled()) pinSelf(LOAD_CPU);

  const dir = mkdtempSync(join(os.tmpdir(), "aviary-bench-flags-"));
  registerTempDir(dir);
  const script = writeLoadScript(dir);
  const [listen, admin, ofrep, unleash, closed] = (await freePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const aviary = startAviary(root, dir, { listen, admin, ofrep }, CLIENT_KEY, SERVER_CPU);
  const peer = startUnleashProxy(unleash, closed, CLIENT_KEY, SERVER_CPU);
  await Promise.all([waitListening(aviary, ofrep), waitListening(peer, unleash)]);
  if (await listening(closed)) throw new Error(`port ${closed} was meant to stay closed`);

  const single = aviaryExpectation([FLAG_KEY]);
  const targets: Target[] = [
    {
      name: "ofrep",
      label: "OFREP single",
      kind: "ofrep",
      port: ofrep,
      flags: 1,
      expect: single,
      pid: aviary.pid,
    },
    {
      name: "ofrepBulk",
      label: `OFREP bulk (${BULK_FLAGS} flags)`,
      kind: "ofrep-bulk",
      port: ofrep,
      flags: BULK_FLAGS,
      expect: aviaryExpectation(bulkKeys),
      pid: aviary.pid,
    },
    {
      name: "unleashProxy",
      label: `Unleash proxy ${unleashProxyVersion()}`,
      kind: "unleash",
      port: unleash,
      flags: 1,
      expect: unleashExpectation,
      pid: peer.pid,
    },
  ];

  say(`checking ${PROBE_USERS} users' answers on each target…`);
  for (const t of targets)
    await probe(t.kind, `http://127.0.0.1:${t.port}`, CLIENT_KEY, t.expect, 0, PROBE_USERS);

  // Every run sends its own users, so no run repeats another's keys.
  let nextStart = 1_000_000;
  const errors: string[] = [];
  const load = async (t: Target, durationS: number): Promise<MeasuredRun> => {
    const start = nextStart;
    nextStart += 10_000_000;
    const pids = processTree(t.pid);
    const cpuBefore = cpuSeconds(pids);
    const r = await runLoad({
      wrk,
      script,
      origin: `http://127.0.0.1:${t.port}`,
      kind: t.kind,
      clientKey: CLIENT_KEY,
      start,
      flags: t.flags,
      connections: a.connections,
      durationS,
      cpu: LOAD_CPU,
    });
    const cpuUsPerReq = ((cpuSeconds(pids) - cpuBefore) * 1e6) / r.requests;
    errors.push(...check(t, r, start));
    return { ...r, cpuUsPerReq };
  };

  if (a.warmupS > 0) {
    say(`warm-up: ${a.warmupS} s per target`);
    for (const t of targets) await load(t, a.warmupS);
  }
  // Other work on the machine takes CPU from the servers: the report says how busy it was.
  const loadAverage = os.loadavg()[0] ?? 0;
  const runs = new Map<Target["name"], MeasuredRun[]>(targets.map((t) => [t.name, []]));
  for (let round = 0; round < a.rounds; round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      const r = await load(t, a.durationS);
      runs.get(t.name)?.push(r);
      say(
        `round ${round + 1}/${a.rounds} ${t.label}: ${Math.round(r.rps)} req/s, p99 ${r.p99Ms.toFixed(2)} ms${r.bad + r.non2xx + r.socketErrors > 0 ? " (ERRORS)" : ""}`,
      );
    }
  }
  // The Node provider follows the same Aviary's flag set; its evaluations are timed below,
  // once the servers have stopped (it reports nothing meanwhile: its interval is an hour).
  const provider = new AviaryProvider({
    baseUrl: `http://127.0.0.1:${ofrep}`,
    clientKey: CLIENT_KEY,
    changes: "polling",
    pollIntervalMs: 3_600_000,
    reportIntervalMs: 3_600_000,
    onError: () => {},
  });
  await provider.initialize();
  await stopAll();
  for (const port of [listen, admin, ofrep, unleash])
    if (await listening(port))
      errors.push(`port ${port} is still listening after the servers stopped`);

  say("in-process evaluation…");
  // Through the provider's resolve path (what the OpenFeature SDK calls, less the Promise the
  // Provider interface wraps it in), exposures counted: the flag set it fetched from Aviary.
  const inProcess = measureInProcess(
    (key, ctx) => provider.resolveSync(key, false, ctx as EvaluationContext, "boolean").value,
    { flagKey: FLAG_KEY, expect: single },
  );
  const compiled = new Map(bulkKeys.map((k) => [k, compileFlag(Flag.parse(aviaryFlag(k)))]));
  const evaluator = measureInProcess((key, ctx) => compiled.get(key)?.evaluate(ctx).value, {
    flagKey: FLAG_KEY,
    expect: single,
  });
  await provider.onClose();

  const results: TargetResult[] = targets.map((t) => ({
    name: t.name,
    label: t.label,
    runs: runs.get(t.name) ?? [],
  }));
  const report = {
    results,
    inProcess,
    evaluator,
    errors,
    rounds: a.rounds,
    durationS: a.durationS,
    connections: a.connections,
    pinned: pinningEnabled(),
    loadAverage,
    peer: { package: "@unleash/proxy", version: unleashProxyVersion() },
  };
  printReport(report, say);
  if (a.json) console.log(JSON.stringify(toJson(report)));
  return errors.length > 0 ? 1 : 0;
}

/** What is wrong with a run's answers, if anything. */
function check(t: Target, r: LoadRun, start: number): string[] {
  const out: string[] = [];
  if (r.bad > 0) out.push(`${t.label}: ${r.bad} wrong answers (first: ${r.firstBad ?? "?"})`);
  if (r.non2xx > 0) out.push(`${t.label}: ${r.non2xx} non-2xx answers`);
  if (r.socketErrors > 0) out.push(`${t.label}: ${r.socketErrors} socket errors or timeouts`);
  // The unanswered requests (at most one per connection) may be any of those sent.
  const most = expectedOn(t.expect, start, start + r.sent);
  const least = most - (r.sent - r.answered) * t.flags;
  if (r.on > most || r.on < least)
    out.push(`${t.label}: ${r.on} "on" answers where the rule gives ${least}…${most}`);
  return out;
}

function which(cmd: string): string | undefined {
  try {
    return (
      execFileSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).trim() || undefined
    );
  } catch {
    return undefined;
  }
}

main()
  .then((code) => {
    removeTempDirs();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    if (!wasInterrupted()) console.error(`bench:flags failed: ${(err as Error).stack ?? err}`);
    await stopAll();
    removeTempDirs();
    process.exit(1);
  });
