/**
 * One measured controller run, in its own process so its CPU and memory are its own: N
 * services svc-0000… with the real Controller, the no-op traffic router (or `--router embedded`), a real SQLite file
 * store (or `:memory:`, or the Postgres store on a database of its own with `--pg-url`; then the
 * server's CPU and memory are read from /proc beside the run's own), the production logger (pino to stderr, which the orchestrator drains)
 * and a 10 s tick. Every rollout follows setWeight 5 → pause 2m → 25 → pause 2m → 50 →
 * pause 2m → 100 → promote, and is redeployed with the next version when it is promoted, so N
 * rollouts stay in flight. Deploys are staggered evenly over one rollout's length, so the
 * transitions are spread out the way independent teams' deploys would be.
 *
 * Modes:
 * - sim: a simulated clock ({@link SimClock}) advanced in 10 s steps for `--sim-minutes`;
 *   CPU time (process.cpuUsage) is read at every simulated minute. CPU seconds per simulated
 *   minute ÷ 60 is the share of a core the controller needs in real operation at this load.
 * - real: the same steady state is first reached on a simulated clock that ends at the present,
 *   then the controller is stopped and a new one resumes from the store on the system clock
 *   (the restart path `aviary serve` takes) and runs for `--seconds` of wall time; CPU is read
 *   every 10 s of wall time.
 *
 * Prints one line `RESULT {json}` on stdout.
 * Usage: node --import tsx bench/controller/run.ts --mode sim|real --rollouts N
 *          --store sqlite|memory|postgres --sim-minutes M --seconds S --tick-ms T --dir DIR
 *          [--router noop|embedded] [--pg-url URL --pg-pid POSTMASTER_PID]
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import Database from "better-sqlite3";
import { MetricsRegistry } from "../../src/dataplane/metrics/registry.js";
import { Router } from "../../src/dataplane/router.js";
import { EventHub } from "../../src/events/hub.js";
import { EmbeddedTrafficProvider } from "../../src/providers/traffic/embedded/index.js";
import { NoopTrafficProvider } from "../../src/providers/traffic/noop/index.js";
import type { TrafficProvider } from "../../src/providers/traffic/provider.js";
import { servedOf, trafficDrift } from "../../src/providers/traffic/served.js";
import { Controller } from "../../src/rollout/controller.js";
import type { RolloutEvent, TrafficState } from "../../src/rollout/types.js";
import { type Service, Spec } from "../../src/spec/schema.js";
import { openSqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { Store } from "../../src/store/store.js";
import { type Clock, systemClock } from "../../src/util/clock.js";
import { createLogger } from "../../src/util/log.js";
import { ChildArgs } from "../proxy/child-args.js";
import { serverCpuMs, serverMemory } from "./db-usage.js";
import { trackIdle } from "./idle-store.js";
import { type MinuteSample, RESULT_MARK, type RunResult } from "./result.js";
import { SimClock } from "./sim-clock.js";

/** The strategy every rollout follows, and its length (the pauses). */
const STEPS = [
  { setWeight: 5 },
  { pause: { duration: "2m" } },
  { setWeight: 25 },
  { pause: { duration: "2m" } },
  { setWeight: 50 },
  { pause: { duration: "2m" } },
  { setWeight: 100 },
];
const CYCLE_MS = 6 * 60_000;

const args = new ChildArgs();
const mode = args.text("mode") as "sim" | "real";
const rollouts = args.number("rollouts");
const storeKind = args.text("store") as RunResult["store"];
const simMinutes = args.number("sim-minutes");
const seconds = args.number("seconds");
const tickMs = args.number("tick-ms");
const dir = args.text("dir");
const routerKind = (args.optional("router") ?? "noop") as "noop" | "embedded";
const pgUrl = storeKind === "postgres" ? args.text("pg-url") : undefined;
const pgPid = storeKind === "postgres" ? args.number("pg-pid") : undefined;
/** The database server's CPU ms so far (0 without one); read outside the measured windows. */
const dbCpuMs = (): number => (pgPid === undefined ? 0 : serverCpuMs(pgPid));

const MB = 1024 * 1024;
const LOOP_RESOLUTION_MS = 10;
const baselineRss = process.memoryUsage().rss;
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
let gcMs = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
});
gcObserver.observe({ entryTypes: ["gc"] });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function peakRssMB(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const names = Array.from({ length: rollouts }, (_, i) => `svc-${String(i).padStart(4, "0")}`);
const services: Service[] = Spec.parse({
  services: names.map((name, i) => ({
    name,
    match: { pathPrefix: `/${name}` },
    stable: { version: "v1", targets: [`http://127.0.0.1:${10_000 + (i % 1000)}`] },
    strategy: { steps: STEPS },
  })),
}).services;

// The production logger (pino, JSON lines on fd 2); errors are counted on the side.
const log = createLogger();
let errors = 0;
let lastError: string | null = null;
const logError = log.error.bind(log);
log.error = ((...a: Parameters<typeof log.error>) => {
  errors++;
  lastError = JSON.stringify(a).slice(0, 300);
  return logError(...a);
}) as typeof log.error;

const dbFile = join(dir, "aviary.db");
// The Postgres client is loaded only for Postgres runs, so SQLite runs' memory is as before.
const tracked = trackIdle(
  pgUrl !== undefined
    ? await (await import("../../src/store/postgres/postgres-store.js")).openPostgresStore(pgUrl)
    : openSqliteStore(storeKind === "memory" ? ":memory:" : dbFile),
);
const store: Store = tracked.store;
// After each simulated instant: the controller's work at that instant, store calls included.
const settle = (): Promise<void> => tracked.idle();

let events = 0;
const eventsByType: Record<string, number> = {};
const generation = new Map<string, number>();

interface Running {
  controller: Controller;
  clock: Clock;
}
let current: Running | undefined;

function deploy(name: string): void {
  const run = current;
  if (run === undefined) return;
  const n = (generation.get(name) ?? 1) + 1;
  generation.set(name, n);
  const canary = { version: `v${n}`, targets: [`http://127.0.0.1:${20_000 + (n % 1000)}`] };
  run.controller.deploy(name, canary, "operator:bench").catch((err: unknown) => {
    errors++;
    lastError = `deploy ${name} v${n}: ${String(err)}`;
  });
}

function onEvent(e: RolloutEvent): void {
  events++;
  eventsByType[e.type] = (eventsByType[e.type] ?? 0) + 1;
  // Keep N rollouts in flight: a promoted service gets its next version at once.
  if (e.type === "promoted" && current) {
    const run = current;
    run.clock.setTimeout(() => deploy(e.service), 0);
  }
}

/**
 * The traffic router: the no-op one (only the controller's own cost), or with `--router
 * embedded` the embedded data plane's provider over a Router that is never listening (what
 * `aviary serve` drives: every apply compiles that service's plan and swaps the router's plan).
 */
interface Routing {
  traffic: TrafficProvider;
  /** Whether the router serves `state` for the service (the end-of-run check). */
  serves(service: string, state: TrafficState): Promise<boolean>;
  close(): Promise<void>;
}

function newRouting(clock: Clock): Routing {
  if (routerKind === "noop") {
    const noop = new NoopTrafficProvider();
    return {
      traffic: noop,
      serves: async (name, state) =>
        JSON.stringify(noop.states.get(name)) === JSON.stringify(state),
      close: async () => {},
    };
  }
  const metrics = new MetricsRegistry({ clock });
  const dataPlane = new Router({ metrics, proxy: Spec.parse({}).proxy, log, clock });
  const embedded = new EmbeddedTrafficProvider(dataPlane, clock);
  return {
    traffic: embedded,
    serves: async (name, state) =>
      trafficDrift(servedOf(state), (await embedded.observe()).get(name)) === undefined,
    close: () => dataPlane.close(),
  };
}

function newController(clock: Clock, routing: Routing): Controller {
  const hub = new EventHub();
  hub.subscribe((m) => {
    if (m.kind === "event") onEvent(m.event);
  });
  return new Controller({ store, router: routing.traffic, clock, log, tickMs, hub });
}

/** Deploys every service once, evenly spread over one rollout's length, on `clock`. */
function staggerDeploys(clock: Clock): void {
  const gap = CYCLE_MS / rollouts;
  names.forEach((name, i) => {
    clock.setTimeout(() => deploy(name), Math.round(i * gap));
  });
}

const samples: MinuteSample[] = [];
let steadyFrom = 0;
let measured = { cpuMs: 0, wallMs: 0, simMs: null as number | null, events: 0, gcMs: 0 };
let routing: Routing | undefined;
let loopDelay: RunResult["loopDelay"] = null;
let setup = { wallMs: 0, cpuMs: 0 };
/** The database server's CPU over the steady part (sim) or the measured period (real). */
let dbSpan = { cpuMs: 0, minutes: 0, wallMs: 0 };

if (mode === "sim") {
  const clock = new SimClock(Date.UTC(2026, 0, 1));
  routing = newRouting(clock);
  const controller = newController(clock, routing);
  current = { controller, clock };
  const w0 = performance.now();
  const c0 = cpuMs();
  await controller.start(services);
  setup = { wallMs: performance.now() - w0, cpuMs: cpuMs() - c0 };
  staggerDeploys(clock);
  // The first rollout cycle (plus a minute) fills the pipeline; later minutes are steady.
  steadyFrom = Math.ceil(CYCLE_MS / 60_000) + 1;
  let db0 = 0;
  const start = { cpu: cpuMs(), wall: performance.now(), events, gc: gcMs };
  for (let minute = 0; minute < simMinutes; minute++) {
    if (minute === steadyFrom) db0 = dbCpuMs();
    const m0 = { cpu: cpuMs(), wall: performance.now(), events };
    for (let s = 0; s < 6; s++) await clock.advance(10_000, settle);
    samples.push({
      index: minute,
      cpuMs: cpuMs() - m0.cpu,
      wallMs: performance.now() - m0.wall,
      events: events - m0.events,
    });
  }
  measured = {
    cpuMs: cpuMs() - start.cpu,
    wallMs: performance.now() - start.wall,
    simMs: simMinutes * 60_000,
    events: events - start.events,
    gcMs: gcMs - start.gc,
  };
  dbSpan = { cpuMs: dbCpuMs() - db0, minutes: Math.max(0, simMinutes - steadyFrom), wallMs: 0 };
  await controller.stop();
} else {
  // Reach the steady state quickly on a simulated clock that ends at the present...
  const w0 = performance.now();
  const c0 = cpuMs();
  const sim = new SimClock(Date.now() - CYCLE_MS - 60_000);
  const warmRouting = newRouting(sim);
  const warm = newController(sim, warmRouting);
  current = { controller: warm, clock: sim };
  await warm.start(services);
  staggerDeploys(sim);
  for (let i = 0; i < 1000 && sim.now() < Date.now() - 10_000; i++) {
    await sim.advance(10_000, settle);
  }
  await sim.advance(Math.max(0, Date.now() - sim.now()), settle);
  await warm.stop();
  await warmRouting.close();
  // ...then restart on the system clock from the store, as `aviary serve` would.
  routing = newRouting(systemClock);
  const controller = newController(systemClock, routing);
  current = { controller, clock: systemClock };
  await controller.start(services);
  await sleep(1000);
  setup = { wallMs: performance.now() - w0, cpuMs: cpuMs() - c0 };
  // Every 10 ms (few wake-ups, so it hardly adds CPU); a reading is the interval plus the delay.
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  const db0 = dbCpuMs();
  const start = { cpu: cpuMs(), wall: performance.now(), events, gc: gcMs };
  const windows = Math.max(1, Math.round(seconds / 10));
  for (let i = 0; i < windows; i++) {
    const m0 = { cpu: cpuMs(), wall: performance.now(), events };
    await sleep(10_000);
    samples.push({
      index: i,
      cpuMs: cpuMs() - m0.cpu,
      wallMs: performance.now() - m0.wall,
      events: events - m0.events,
    });
  }
  measured = {
    cpuMs: cpuMs() - start.cpu,
    wallMs: performance.now() - start.wall,
    simMs: null,
    events: events - start.events,
    gcMs: gcMs - start.gc,
  };
  dbSpan = { cpuMs: dbCpuMs() - db0, minutes: 0, wallMs: measured.wallMs };
  loop.disable();
  const late = (ns: number): number => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
  loopDelay = {
    p50Ms: late(loop.percentile(50)),
    p99Ms: late(loop.percentile(99)),
    maxMs: late(loop.max),
  };
  current = undefined;
  // stop() stops the router first, then waits for the work in flight: a transition committed
  // in between is in the store but not applied (the next start applies it). On the system clock
  // the end-of-run check would count it as a mismatch, so stop at a moment when no store call
  // is pending (a commit that returned has handed its traffic to the router by then).
  await tracked.idle();
  await controller.stop();
}

// Checks: the router holds what the store says, for every service.
let routerMismatches = 0;
for (const s of await store.listServices()) {
  if (!(await routing?.serves(s.name, s.traffic))) routerMismatches++;
}
await routing?.close();
const activeAtEnd = (await store.activeRollouts()).length;
gcObserver.disconnect();
const mem = process.memoryUsage();
const serverMem = pgPid === undefined ? undefined : serverMemory(pgPid);
await store.close();
let eventsInStore: number | null = null;
if (storeKind === "sqlite") {
  const db = new Database(dbFile, { readonly: true });
  eventsInStore = db.prepare("SELECT count(*) FROM events").pluck().get() as number;
  db.close();
} else if (pgUrl !== undefined) {
  const { default: postgres } = await import("postgres");
  const sql = postgres(pgUrl, { max: 1, onnotice: () => {} });
  const [row] = await sql`SELECT count(*)::int AS n FROM events`;
  eventsInStore = Number(row?.n);
  await sql.end({ timeout: 1 });
}

const result: RunResult = {
  mode,
  rollouts,
  store: storeKind,
  router: routerKind,
  tickMs,
  setup,
  samples,
  steadyFrom,
  measured,
  loopDelay,
  eventsByType,
  eventsInStore,
  eventsReported: events,
  activeAtEnd,
  routerMismatches,
  errors,
  lastError,
  database:
    serverMem === undefined
      ? null
      : {
          cpuMs: dbSpan.cpuMs,
          steadyMinutes: dbSpan.minutes,
          wallMs: dbSpan.wallMs,
          pssMB: serverMem.pssMB,
          rssSumMB: serverMem.rssSumMB,
          processes: serverMem.processes,
        },
  memory: {
    baselineRssMB: baselineRss / MB,
    rssMB: mem.rss / MB,
    peakRssMB: peakRssMB(),
    heapUsedMB: mem.heapUsed / MB,
  },
};
process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`);
