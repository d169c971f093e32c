/**
 * `npm run bench:fleet -- --workers N`: the throughput of `aviary serve --workers N` against
 * plain `aviary serve` (embedded router) on this machine, closed loop (wrk, 64 keep-alive
 * connections, a random `x-user-id` per request) through a sticky 90/10 split: requests a
 * second, and the CPU the Aviary process tree used (primary and workers), as a share of one
 * core and per request. Runs alternate between the two (serve, workers, serve, ...) and the
 * median of `--runs` (3) is shown. wrk and the two upstreams run on the same machine and share
 * its cores with what is measured.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuSeconds, processTree } from "../proxy/cpu.js";
import { freePorts } from "../proxy/procs.js";
import { runWrk, writeWrkScript } from "../proxy/wrk.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "dist", "cli", "main.js");

export interface WorkersBenchOptions {
  workers: number;
  seconds: number;
  runs: number;
  connections: number;
  json: boolean;
}

interface Run {
  rps: number;
  p99Ms: number;
  /** The Aviary process tree's CPU over the run, in % of one core. */
  cpuPercent: number;
  cpuUsPerRequest: number;
  errors: number;
}

async function upstream(name: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/plain", "x-upstream": name });
    res.end(name);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function spec(listen: number, admin: number, v1: string, v2: string): string {
  return JSON.stringify({
    listen: `127.0.0.1:${listen}`,
    admin: `127.0.0.1:${admin}`,
    services: [
      {
        name: "shop",
        match: { pathPrefix: "/" },
        stable: { version: "v1", targets: [v1] },
        canary: { version: "v2", targets: [v2] },
        weight: 10,
        stickiness: { header: "x-user-id" },
      },
    ],
  });
}

/** Starts `aviary serve` and resolves once its ready line is out. */
async function serve(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, "serve", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, AVIARY_LOG_LEVEL: "info" },
  });
  let text = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line in 60 s:\n${text}`)), 60_000);
    child.stderr?.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('"msg":"aviary serving"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`aviary serve exited (${code}):\n${text}`));
    });
  });
  child.stderr?.removeAllListeners("data");
  child.stderr?.resume();
  child.removeAllListeners("exit");
  return child;
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  c.kill("SIGTERM");
  await once(c, "exit");
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

export async function benchWorkers(o: WorkersBenchOptions): Promise<void> {
  const v1 = await upstream("v1");
  const v2 = await upstream("v2");
  const dir = mkdtempSync(join(tmpdir(), "aviary-bench-workers-"));
  const script = writeWrkScript(dir);
  const runs: Record<"serve" | "workers", Run[]> = { serve: [], workers: [] };
  try {
    for (let i = 0; i < o.runs; i++) {
      for (const mode of ["serve", "workers"] as const) {
        const [listen, admin] = (await freePorts(2)) as [number, number];
        const file = join(dir, `${mode}-${i}.json`);
        writeFileSync(file, spec(listen, admin, v1.url, v2.url));
        const child = await serve([
          "-c",
          file,
          "--data-dir",
          join(dir, `${mode}-${i}`),
          ...(mode === "workers" ? ["--workers", String(o.workers)] : []),
        ]);
        try {
          const url = `http://127.0.0.1:${listen}/`;
          const wrk = { wrk: "wrk", url, script, connections: o.connections, cpu: 0 };
          await runWrk({ ...wrk, durationS: 2 }); // warm-up: JIT, upstream pools
          const pids = processTree(child.pid as number);
          const before = cpuSeconds(pids);
          const r = await runWrk({ ...wrk, durationS: o.seconds });
          const cpu = cpuSeconds(pids) - before;
          runs[mode].push({
            rps: r.rps,
            p99Ms: r.p99Ms,
            cpuPercent: (cpu / r.durationS) * 100,
            cpuUsPerRequest: (cpu / Math.max(1, r.requests)) * 1e6,
            errors: r.non2xx + r.socketErrors,
          });
        } finally {
          await stop(child);
        }
      }
    }
  } finally {
    for (const u of [v1, v2]) {
      u.server.close();
      u.server.closeAllConnections();
    }
    rmSync(dir, { recursive: true, force: true });
  }
  const summary = (rs: Run[]) => ({
    rps: median(rs.map((r) => r.rps)),
    p99Ms: median(rs.map((r) => r.p99Ms)),
    cpuPercent: median(rs.map((r) => r.cpuPercent)),
    cpuUsPerRequest: median(rs.map((r) => r.cpuUsPerRequest)),
    errors: rs.reduce((n, r) => n + r.errors, 0),
    runs: rs,
  });
  const s = summary(runs.serve);
  const w = summary(runs.workers);
  const report = {
    cores: availableParallelism(),
    workers: o.workers,
    seconds: o.seconds,
    connections: o.connections,
    serve: s,
    serveWorkers: w,
    ratio: { rps: w.rps / s.rps },
  };
  if (o.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  const f = (n: number, d = 1) => n.toFixed(d);
  console.log(
    `closed loop: wrk -t1 -c${o.connections}, ${o.seconds} s a run, median of ${o.runs}; ${report.cores} cores shared by wrk, the upstreams and Aviary`,
  );
  console.log("process                      req/s    p99 ms  CPU % of a core  CPU µs/req  errors");
  const row = (name: string, m: typeof s) =>
    console.log(
      `${name.padEnd(25)}${f(m.rps, 0).padStart(8)}  ${f(m.p99Ms, 2).padStart(8)}  ${f(m.cpuPercent).padStart(15)}  ${f(m.cpuUsPerRequest).padStart(10)}  ${String(m.errors).padStart(6)}`,
    );
  row("aviary serve", s);
  row(`aviary serve --workers ${o.workers}`, w);
  console.log(`--workers ${o.workers} / serve: req/s ×${f(report.ratio.rps, 2)}`);
}
