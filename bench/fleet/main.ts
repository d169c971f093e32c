/**
 * `npm run bench:fleet`: what one `aviary router` replica costs against the single
 * `aviary serve` process (embedded router), at the same fixed request rate through the same
 * sticky 90/10 split: CPU per request (utime+stime from /proc over the measured run, divided by
 * the requests answered) and resident memory at the end of the run. For the fleet it also
 * shows what the control plane spends meanwhile (the long poll, the reports every 2 s).
 *
 * Usage: npm run bench:fleet -- [--rate 1000] [--seconds 15] [--json]
 *        npm run bench:fleet -- --workers N [--seconds 15] [--runs 3] [--json]
 *        (`serve --workers N` against plain `serve`, closed loop: see workers.ts)
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { cpuSeconds } from "../proxy/cpu.js";
import { freePorts } from "../proxy/procs.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "dist", "cli", "main.js");
const ROUTER_TOKEN = "bench-fleet-router-token";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: expected a positive number`);
  return v;
}
const RATE = arg("rate", 1000);
const SECONDS = arg("seconds", 15);
const JSON_OUT = process.argv.includes("--json");

async function upstream(name: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/plain", "x-upstream": name });
    res.end(name);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function spec(engine: "embedded" | "fleet", listen: number, admin: number, v1: string, v2: string) {
  return JSON.stringify({
    listen: `127.0.0.1:${listen}`,
    admin: `127.0.0.1:${admin}`,
    dataplane: { engine },
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

function start(args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...env },
  });
  child.stderr?.resume();
  return child;
}

async function ready(url: string, ms = 30_000): Promise<void> {
  const pool = new Pool(url, { connections: 1 });
  const until = Date.now() + ms;
  try {
    for (;;) {
      try {
        const res = await pool.request({
          path: "/x",
          method: "GET",
          headers: { "x-user-id": "u" },
        });
        await res.body.dump();
        if (res.statusCode === 200) return;
      } catch {}
      if (Date.now() > until) throw new Error(`${url} did not answer 200 within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await pool.close();
  }
}

/** Sends RATE requests a second for `seconds`, paced in 10 ms slots; counts answers. */
async function load(url: string, seconds: number): Promise<{ ok: number; failed: number }> {
  const pool = new Pool(url, { connections: 32, pipelining: 1 });
  let ok = 0;
  let failed = 0;
  let n = 0;
  const inflight = new Set<Promise<void>>();
  const start = performance.now();
  const total = RATE * seconds;
  while (n < total) {
    const due = Math.floor(((performance.now() - start) / 1000) * RATE);
    while (n < Math.min(due, total)) {
      const id = n++;
      const p = pool
        .request({ path: `/p/${id}`, method: "GET", headers: { "x-user-id": `u${id % 5000}` } })
        .then(async (res) => {
          await res.body.dump();
          if (res.statusCode === 200) ok++;
          else failed++;
        })
        .catch(() => {
          failed++;
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(inflight);
  await pool.close();
  return { ok, failed };
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

interface Measured {
  requests: number;
  failed: number;
  cpuUsPerRequest: number;
  rssMiB: number;
  /** The control plane beside a router: its CPU over the run (% of a core) and memory. */
  controlPlane?: { cpuPercent: number; rssMiB: number };
}

async function measure(
  proxy: ChildProcess,
  url: string,
  control?: ChildProcess,
): Promise<Measured> {
  await ready(url);
  await load(url, 2); // warm-up: JIT, pools
  const pid = proxy.pid as number;
  const before = cpuSeconds([pid]);
  const cpBefore = control ? cpuSeconds([control.pid as number]) : 0;
  const t0 = performance.now();
  const { ok, failed } = await load(url, SECONDS);
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds([pid]) - before;
  const out: Measured = {
    requests: ok,
    failed,
    cpuUsPerRequest: (cpu / Math.max(1, ok)) * 1e6,
    rssMiB: rssMiB(pid),
  };
  if (control)
    out.controlPlane = {
      cpuPercent: ((cpuSeconds([control.pid as number]) - cpBefore) / wall) * 100,
      rssMiB: rssMiB(control.pid as number),
    };
  return out;
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null) return;
  c.kill("SIGTERM");
  await once(c, "exit");
}

async function main(): Promise<void> {
  const v1 = await upstream("v1");
  const v2 = await upstream("v2");
  const dir = mkdtempSync(join(tmpdir(), "aviary-bench-fleet-"));
  const results: Record<string, Measured> = {};
  try {
    // 1. The single process: aviary serve with its embedded router.
    {
      const [listen, admin] = await freePorts(2);
      const file = join(dir, "serve.json");
      writeFileSync(file, spec("embedded", listen as number, admin as number, v1.url, v2.url));
      const serve = start(["serve", "-c", file, "--data-dir", join(dir, "serve")]);
      try {
        results.serve = await measure(serve, `http://127.0.0.1:${listen}`);
      } finally {
        await stopChild(serve);
      }
    }
    // 2. A router replica following an aviary serve with engine fleet.
    {
      const [listen, admin, routerPort, status] = await freePorts(4);
      const data = join(dir, "cp");
      const file = join(dir, "fleet.json");
      writeFileSync(file, spec("fleet", listen as number, admin as number, v1.url, v2.url));
      const { mkdirSync } = await import("node:fs");
      mkdirSync(data, { recursive: true, mode: 0o700 });
      const hash = createHash("sha256").update(ROUTER_TOKEN).digest("hex");
      writeFileSync(join(data, "tokens"), `sha256:${hash} router bench\n`, { mode: 0o600 });
      const cp = start(["serve", "-c", file, "--data-dir", data]);
      const router = start(
        [
          "router",
          "--control",
          `http://127.0.0.1:${admin}`,
          "--listen",
          `127.0.0.1:${routerPort}`,
          "--status",
          `127.0.0.1:${status}`,
          "--data-dir",
          join(dir, "router"),
          "--id",
          "bench",
        ],
        { AVIARY_ROUTER_TOKEN: ROUTER_TOKEN },
      );
      try {
        results.router = await measure(router, `http://127.0.0.1:${routerPort}`, cp);
      } finally {
        await stopChild(router);
        await stopChild(cp);
      }
    }
  } finally {
    v1.server.close();
    v2.server.close();
    v1.server.closeAllConnections();
    v2.server.closeAllConnections();
    rmSync(dir, { recursive: true, force: true });
  }
  const s = results.serve as Measured;
  const r = results.router as Measured;
  const report = {
    rate: RATE,
    seconds: SECONDS,
    serve: s,
    router: r,
    ratio: {
      cpuPerRequest: r.cpuUsPerRequest / s.cpuUsPerRequest,
      rss: r.rssMiB / s.rssMiB,
    },
  };
  if (JSON_OUT) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  const f = (n: number, d = 1) => n.toFixed(d);
  console.log(
    `fixed rate ${RATE} req/s for ${SECONDS} s, sticky 90/10 split, one proxy process each`,
  );
  console.log("process                     requests  failed  CPU µs/req  RSS MiB");
  console.log(
    `aviary serve (embedded)     ${String(s.requests).padStart(8)}  ${String(s.failed).padStart(6)}  ${f(s.cpuUsPerRequest).padStart(10)}  ${f(s.rssMiB).padStart(7)}`,
  );
  console.log(
    `aviary router (fleet)       ${String(r.requests).padStart(8)}  ${String(r.failed).padStart(6)}  ${f(r.cpuUsPerRequest).padStart(10)}  ${f(r.rssMiB).padStart(7)}`,
  );
  console.log(
    `router / serve: CPU per request ×${f(report.ratio.cpuPerRequest, 2)}, RSS ×${f(report.ratio.rss, 2)}`,
  );
  if (r.controlPlane)
    console.log(
      `the control plane beside it (engine fleet): ${f(r.controlPlane.cpuPercent, 2)} % of a core, ${f(r.controlPlane.rssMiB)} MiB`,
    );
}

if (process.argv.includes("--workers")) {
  const { benchWorkers } = await import("./workers.js");
  await benchWorkers({
    workers: arg("workers", 2),
    seconds: SECONDS,
    runs: arg("runs", 3),
    connections: arg("connections", 64),
    json: JSON_OUT,
  });
} else await main();
