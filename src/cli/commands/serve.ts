import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { storeLocation } from "../../cluster/store-url.js";
import { AviaryError } from "../../errors.js";
import { loadSpecFile, SpecError } from "../../spec/load.js";
import type { Store } from "../../store/store.js";
import { formatListenAddress, type ListenAddress, parseListenAddress } from "../../util/address.js";
import { parseDuration } from "../../util/duration.js";
import { createLogger, type Logger } from "../../util/log.js";
import { EXIT } from "../exit.js";

interface ServeOptions {
  config: string;
  listen?: string;
  admin?: string;
  dataDir: string;
  initStore?: boolean;
  store?: string;
  lease: string;
  instance?: string;
  workers?: string;
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description(
      "Run the router and the admin server for a spec. SIGHUP re-reads the spec; SIGTERM drains and exits.",
    )
    .requiredOption("-c, --config <path>", "the spec file")
    .option(
      "--listen <host:port>",
      "data-plane address (overrides the spec's listen; default 0.0.0.0:8080)",
    )
    .option(
      "--admin <host:port>",
      "admin address (overrides the spec's admin; default 127.0.0.1:9900)",
    )
    .option(
      "--data-dir <dir>",
      "where Aviary keeps its state: the SQLite store and the operator token",
      ".aviary",
    )
    .option(
      "--init-store",
      "start a fresh store in an aviary.db that exists but is empty, or add Aviary's tables to a SQLite file without them (refused otherwise)",
    )
    .option(
      "--store <url>",
      "the shared store of several instances: postgres://user@host:port/database (default: SQLite in the data directory; also AVIARY_STORE, which keeps a password off the command line)",
    )
    .option(
      "--lease <duration>",
      "how long the leader's lease lasts without a renewal (renewed every fifth of it); a follower takes over within it after the leader dies",
      "10s",
    )
    .option(
      "--instance <name>",
      "this instance's name in the cluster (default: <hostname>-<pid>-<4 hex>)",
    )
    .option(
      "--workers <n|auto>",
      "serve the data plane from N worker processes (auto: one per core), each a fleet router following this process; the spec's engine must be embedded or fleet",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  aviary serve -c examples/aviary.yaml --listen 127.0.0.1:8080\n  AVIARY_STORE=postgres://aviary:secret@db:5432/aviary aviary serve -c aviary.yaml --lease 10s",
    )
    .action(async (opts: ServeOptions) => {
      const log = createLogger();
      installProcessPolicy(log);
      const workers = opts.workers === undefined ? undefined : workerCount(opts.workers);
      const spec = await loadSpecFile(opts.config);
      if (workers !== undefined && !WORKER_ENGINES.has(spec.dataplane.engine))
        throw new AviaryError(
          "AVIARY_BAD_REQUEST",
          `--workers: the spec's dataplane.engine is ${spec.dataplane.engine}; --workers needs embedded or fleet (the workers are Aviary's own routers)`,
        );
      const leaseMs = parseDuration(opts.lease);
      if (leaseMs === undefined || leaseMs < 1_000 || leaseMs > 300_000)
        throw new AviaryError(
          "AVIARY_BAD_REQUEST",
          `--lease ${opts.lease}: a duration from 1s to 5m, like 10s`,
        );
      const where = storeLocation(opts.store);
      // Loaded here, not at the top: every other verb would pay for the whole server at start.
      const { startAviary } = await import("../../server.js");
      const openedStore =
        where.url === undefined ? undefined : await openPostgres(where.url, leaseMs);
      const pools = workers === undefined ? undefined : await import("../../workers/primary.js");
      const routerToken = pools?.runRouterToken();
      const pool =
        workers === undefined || routerToken === undefined || pools === undefined
          ? undefined
          : new pools.WorkerPool({
              count: workers,
              token: routerToken,
              listen: listenOf(opts.listen ?? spec.listen),
              dataDir: opts.dataDir,
              log,
            });
      let aviary: Awaited<ReturnType<typeof startAviary>>;
      try {
        aviary = await startAviary({
          spec,
          log,
          dataDir: opts.dataDir,
          leaseMs,
          ...(openedStore ? { openedStore } : {}),
          ...(opts.instance ? { instance: opts.instance } : {}),
          specSource: opts.config,
          faults: crashHooks(),
          ...(opts.listen ? { listen: opts.listen } : {}),
          ...(opts.admin ? { admin: opts.admin } : {}),
          ...(opts.initStore ? { store: { initStore: true } } : {}),
          ...(pool && routerToken
            ? {
                workers: { routerToken },
                beforeElection: async (admin) => pool.fork(admin),
              }
            : {}),
        });
      } catch (err) {
        await pool?.drain();
        throw err;
      }
      let listenShown = formatListenAddress(aviary.listen);
      if (pool !== undefined) {
        try {
          listenShown = await pool.ready(aviary);
        } catch (err) {
          await pool.drain();
          await aviary.close();
          throw err;
        }
      }
      let stopping = false;
      // One reload at a time: SIGHUPs that arrive during a reload make one more after it, which
      // reads the file as it is then. A reload that fails for any reason (a broken edit, a file
      // caught mid-rewrite, a spec the controller refuses) changes nothing: the controller
      // applies a spec all or nothing, and the previous one keeps being served.
      const reload = serialized(async () => {
        if (stopping) return;
        try {
          const next = await loadSpecFile(opts.config);
          // The text too: a follower hands it to the leader, which parses it again.
          const changes = await aviary.reload(next, readFileSync(opts.config, "utf8"));
          log.info(
            {
              services: next.services.length,
              changes: changes.map((c) => `${c.service}: ${c.summary}`),
            },
            "spec reloaded",
          );
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          const code = err instanceof AviaryError ? err.code : undefined;
          const problems = err instanceof SpecError ? { problems: err.problems } : {};
          log.error(
            { file: opts.config, code, reason, ...problems },
            "spec reload refused; still serving the previous spec",
          );
        }
      });
      process.on("SIGHUP", reload);
      const stop = (signal: string) => {
        if (stopping) {
          process.exit(EXIT.failed);
        }
        stopping = true;
        log.info({ signal }, "draining");
        // Workers first: their last reports (leaving) still reach this control plane.
        (pool?.drain() ?? Promise.resolve())
          .then(() => aviary.close())
          .then(
            () => process.exit(EXIT.ok),
            () => process.exit(EXIT.failed),
          );
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
      // Announce readiness only once the signal handlers are in place: a supervisor that
      // signals as soon as it reads this line must reach them.
      log.info(
        {
          listen: listenShown,
          admin: formatListenAddress(aviary.adminAddress),
          role: aviary.cluster.state().role,
          instance: aviary.cluster.instance,
          store: where.shown,
          dashboard: `http://${formatListenAddress(aviary.adminAddress)}/dashboard/`,
          engine: pool ? "fleet" : spec.dataplane.engine, // the engine in force (--workers: the fleet)
          ...(aviary.logs ? { logs: `udp://${formatListenAddress(aviary.logs.address)}` } : {}),
          ...(aviary.ofrep ? { ofrep: formatListenAddress(aviary.ofrep.address) } : {}),
          services: spec.services.length,
          dataDir: opts.dataDir,
          tokenFrom: aviary.tokenSource,
          ...(pool ? { workers: workers, workerPids: pool.pids() } : {}),
        },
        "aviary serving",
      );
      escapeFaults();
    });
}

/** Engines whose router is Aviary's own, so that workers can be fleet routers. */
const WORKER_ENGINES = new Set(["embedded", "fleet"]);

function listenOf(text: string): ListenAddress {
  const a = parseListenAddress(text);
  if (a === undefined)
    throw new AviaryError("AVIARY_BAD_REQUEST", `--listen: expected HOST:PORT, got '${text}'`);
  return a;
}

/** `--workers`: a whole number from 1, or `auto` (one per core Node may use). */
function workerCount(text: string): number {
  if (text === "auto") return availableParallelism();
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > 1024)
    throw new AviaryError(
      "AVIARY_BAD_REQUEST",
      `--workers ${text}: expected a number of workers from 1 to 1024, or auto`,
    );
  return n;
}

/**
 * What happens to an error nothing caught, for the life of `aviary serve`.
 *
 * A rejected promise nobody handles is logged at error (`"msg":"unhandled rejection"`) and the
 * process keeps serving. Node would exit instead, but here that turns one lost side effect
 * into every request failing: state is changed only by synchronous SQLite transactions, each
 * committed whole before its effect, and the router swaps an immutable plan, so a promise
 * chain that rejected halfway (a reload, a notification, a gate call) leaves no half-written
 * state behind — only work that did not happen, which the log line makes visible. Tests fail
 * when that line appears (see test/fixtures.ts), so each one found is a bug to fix, not a
 * behaviour to rely on.
 *
 * A synchronous exception that reached the event loop is different: it unwound out of some
 * callback (a socket's, a timer's) partway, and what that callback had half-updated in memory
 * (connection counts, pools, a controller queue) cannot be known. It is logged at fatal and
 * the process exits 1 for its supervisor to restart it; everything resumes from the store,
 * as after any crash (test/crash-resume.test.ts).
 */
function installProcessPolicy(log: Logger): void {
  process.on("unhandledRejection", (reason) => {
    log.error({ err: errorFields(reason) }, "unhandled rejection");
  });
  process.on("uncaughtException", (err, origin) => {
    // pino writes to stderr synchronously: the line is out before the exit.
    log.fatal({ err: errorFields(err), origin }, "uncaught exception; exiting");
    process.exit(EXIT.failed);
  });
}

function errorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  return {
    name: err.name,
    message: err.message,
    ...(err instanceof AviaryError ? { code: err.code } : {}),
    stack: err.stack,
  };
}

/** `run` once at a time; calls during a run make one more run after it, however many there were. */
function serialized(run: () => Promise<void>): () => void {
  let running = false;
  let again = false;
  const loop = async () => {
    running = true;
    do {
      again = false;
      await run();
    } while (again);
    running = false;
  };
  return () => {
    if (running) again = true;
    else void loop();
  };
}

/**
 * Test-only, so tests can watch the process-level policy at work once the server is up:
 * AVIARY_FAULT_UNHANDLED_REJECTION=1 rejects a promise nobody handles (logged, serving goes
 * on); AVIARY_FAULT_UNCAUGHT_EXCEPTION=1 throws from a callback (logged, exit 1).
 */
function escapeFaults(): void {
  if (process.env.AVIARY_FAULT_UNHANDLED_REJECTION === "1")
    setImmediate(() => {
      void Promise.reject(new Error("deliberate rejection (AVIARY_FAULT_UNHANDLED_REJECTION)"));
    });
  if (process.env.AVIARY_FAULT_UNCAUGHT_EXCEPTION === "1")
    setImmediate(() => {
      throw new Error("deliberate exception (AVIARY_FAULT_UNCAUGHT_EXCEPTION)");
    });
}

/**
 * Fault injection for the crash-and-resume tests. AVIARY_FAULT_CRASH_AFTER_COMMITS=N makes the
 * process SIGKILL itself right after its Nth committed transition, before the transition's
 * effect reaches the router; AVIARY_FAULT_CRASH_BEFORE_COMMITS=N, just before the Nth commit
 * (so the previous transition's effect was applied and this one is lost).
 */
function crashHooks(): { beforeCommit?: () => void; afterCommit?: () => void } {
  const hook = (variable: string) => {
    const n = Number(process.env[variable]);
    if (!Number.isInteger(n) || n <= 0) return undefined;
    let commits = 0;
    return () => {
      if (++commits === n) process.kill(process.pid, "SIGKILL");
    };
  };
  const beforeCommit = hook("AVIARY_FAULT_CRASH_BEFORE_COMMITS");
  const afterCommit = hook("AVIARY_FAULT_CRASH_AFTER_COMMITS");
  return { ...(beforeCommit ? { beforeCommit } : {}), ...(afterCommit ? { afterCommit } : {}) };
}

/**
 * The Postgres store at `url` (loaded only when asked for: SQLite users never load the client).
 * A frozen instance's transaction is ended by the server within half a short lease, so that a
 * takeover never waits on its locks for longer than the lease itself.
 */
async function openPostgres(url: string, leaseMs: number): Promise<Store> {
  const { DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS, openPostgresStore } = await import(
    "../../store/postgres/postgres-store.js"
  );
  return openPostgresStore(url, {
    idleInTransactionTimeoutMs: Math.min(
      DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      Math.floor(leaseMs / 2),
    ),
  });
}
