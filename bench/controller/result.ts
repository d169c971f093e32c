/**
 * What a controller run (`run.ts`) reports to the orchestrator (`main.ts`): one line
 * `RESULT {json}` on stdout.
 *
 * @module
 */

export const RESULT_MARK = "RESULT ";

export interface MinuteSample {
  /** Simulated minute (sim) or wall window index (real). */
  index: number;
  cpuMs: number;
  wallMs: number;
  events: number;
}

export interface RunResult {
  mode: "sim" | "real";
  rollouts: number;
  store: "sqlite" | "memory" | "postgres";
  router: "noop" | "embedded";
  tickMs: number;
  setup: { wallMs: number; cpuMs: number };
  /** sim: one sample per simulated minute; real: one per 10 s of wall time. */
  samples: MinuteSample[];
  /** Samples that are steady state (sim: after the first rollout cycle; real: all). */
  steadyFrom: number;
  /** Over the measured period; gcMs: V8 garbage-collection pauses (PerformanceObserver "gc"). */
  measured: { cpuMs: number; wallMs: number; simMs: number | null; events: number; gcMs: number };
  /**
   * real mode: how late the event loop ran timers during the measured period (ms), i.e. how long
   * a data plane in the same process would have waited behind the controller; null in sim mode.
   */
  loopDelay: { p50Ms: number; p99Ms: number; maxMs: number } | null;
  eventsByType: Record<string, number>;
  /** Events the store holds at the end (counted in the file or database), null for :memory:. */
  eventsInStore: number | null;
  /** Events the controller reported through onEvent, setup included. */
  eventsReported: number;
  activeAtEnd: number;
  routerMismatches: number;
  errors: number;
  lastError: string | null;
  /**
   * The Postgres server (postmaster and its children, from /proc), null for SQLite. cpuMs: over
   * the steady simulated minutes (sim; `steadyMinutes` of them) or the measured wall time
   * (real; `wallMs`). Memory at the end of the run: PSS counts shared memory once.
   */
  database: {
    cpuMs: number;
    steadyMinutes: number;
    wallMs: number;
    pssMB: number;
    rssSumMB: number;
    processes: number;
  } | null;
  memory: { baselineRssMB: number; rssMB: number; peakRssMB: number; heapUsedMB: number };
}
