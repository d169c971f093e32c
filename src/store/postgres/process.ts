/**
 * A throwaway Postgres server for tests, benchmarks and the docs' walkthrough: a fresh data
 * directory in the system's temporary directory, trust authentication on loopback only, a free
 * port on 127.0.0.1, the unix socket in the same directory. fsync stays on: the store's
 * durability is part of what the tests check.
 *
 * The server is started directly (not through pg_ctl), so its pid is ours. kill(), pause() and
 * resume() signal the postmaster and every process it forked (each of which calls setsid, so a
 * process-group signal would miss them): a SIGKILL of the postmaster alone leaves backends
 * holding its shared memory for a while, and a SIGSTOP of it alone leaves sessions answering.
 * Postgres refuses to run as root; as root the server runs as `nobody` (setpriv, which execs and
 * so keeps the pid ours).
 *
 * @module
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  chownSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";

export interface StartPostgresOptions {
  /** Enough for several instances' pools plus their LISTEN connections. Default 200. */
  maxConnections?: number;
  /** How long start() waits for the server to accept connections. Default 60 s. */
  readyTimeoutMs?: number;
}

export interface PostgresServer {
  /** Superuser URL of the `postgres` database (no password: trust on loopback). */
  url: string;
  port: number;
  /** The temporary directory: data in `data/`, the socket and `postgres.log` beside it. */
  dir: string;
  /** The postmaster's pid while it runs (every server process is its child), for /proc. */
  pid(): number | undefined;
  /** A URL for database `name` on this server. */
  urlOf(name: string): string;
  /** Creates database `name` and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /**
   * Fast shutdown (SIGINT), waiting for the server to exit. Removes the directory unless
   * `keepData` (then start() brings the same data back).
   */
  stop(opts?: { keepData?: boolean }): Promise<void>;
  /** SIGKILL to the postmaster and every backend: a crash. start() then runs crash recovery. */
  kill(): Promise<void>;
  /** SIGSTOP to every server process: connections stay open and hang, as on a frozen host. */
  pause(): void;
  resume(): void;
  /** Starts the server again on the same port and data (after stop({ keepData }) or kill()). */
  start(): Promise<void>;
}

const INSTALL_HINT = "install it with: apt-get install -y postgresql-15";

/** Where Postgres 15's server binaries are: the Debian path, else initdb on PATH. */
function binDir(): string {
  const debian = "/usr/lib/postgresql/15/bin";
  if (existsSync(join(debian, "postgres")) && existsSync(join(debian, "initdb"))) return debian;
  try {
    const initdb = execFileSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" }).trim();
    const dir = initdb.slice(0, initdb.lastIndexOf("/"));
    // A wrapper on PATH (Debian's pg_wrapper) is not the server's own directory: ask it.
    const real = execFileSync(join(dir, "pg_config"), ["--bindir"], { encoding: "utf8" }).trim();
    if (existsSync(join(real, "postgres"))) return real;
  } catch {}
  throw new Error(`Postgres server binaries (initdb, postgres) not found; ${INSTALL_HINT}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

/** uid and gid to run the server as: ours, or `nobody`'s when we are root. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync("id", ["-u", "nobody"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "nobody"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

function asUser(user: { uid: number; gid: number } | undefined, cmd: string, args: string[]) {
  if (user === undefined) return { cmd, args };
  return {
    cmd: "setpriv",
    args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--", cmd, ...args],
  };
}

/** Pids whose parent is `parent` (Linux /proc): the postmaster's backends and workers. */
function childrenOf(parent: number): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid ...: comm may hold spaces, so split after its closing paren.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

/** The last lines of the server's log, for an error that says why it did not start. */
function logTail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-15).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Starts a fresh Postgres server; see the module doc. */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = binDir();
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), "aviary-pg-"));
  const data = join(dir, "data");
  const log = join(dir, "postgres.log");
  if (user !== undefined) chownSync(dir, user.uid, user.gid);
  const init = asUser(user, join(bin, "initdb"), [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth-local=trust",
    "--auth-host=trust",
    "--encoding=UTF8",
    "--locale=C",
    // Only initdb's own files skip fsync (they are rebuilt by rerunning it); the server fsyncs.
    "--no-sync",
  ]);
  try {
    execFileSync(init.cmd, init.args, { stdio: ["ignore", "pipe", "pipe"], cwd: dir });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`initdb failed: ${stderr || String(err)}`);
  }
  const port = await freePort();
  const maxConnections = opts.maxConnections ?? 200;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const urlOf = (name: string) =>
    `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(name)}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const killGroup = (signal: NodeJS.Signals) => {
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    // The children first, so a stopped or killed postmaster cannot fork new ones unseen.
    for (const pid of [...childrenOf(child.pid), child.pid]) {
      try {
        process.kill(pid, signal);
      } catch {}
    }
  };
  // A test that crashes must not leave a server (and its directory) behind.
  const onExit = () => {
    killGroup("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);

  const start = async () => {
    const run = asUser(user, join(bin, "postgres"), [
      "-D",
      data,
      "-p",
      String(port),
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      `unix_socket_directories=${dir}`,
      "-c",
      `max_connections=${maxConnections}`,
      "-c",
      "fsync=on",
      "-c",
      "synchronous_commit=on",
    ]);
    const out = openSync(log, "a");
    // detached: a Ctrl-C meant for the test runner does not reach the server first.
    child = spawn(run.cmd, run.args, { detached: true, stdio: ["ignore", out, out] });
    closeSync(out);
    const proc = child;
    exited = new Promise((resolve) => proc.once("exit", () => resolve()));
    const probe = postgres(urlOf("postgres"), { max: 1, connect_timeout: 2, onnotice: () => {} });
    const deadline = Date.now() + readyTimeoutMs;
    try {
      for (;;) {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(`postgres exited while starting:\n${logTail(log)}`);
        }
        try {
          await probe`SELECT 1`;
          return;
        } catch {}
        if (Date.now() > deadline) {
          killGroup("SIGKILL");
          throw new Error(
            `postgres did not accept connections in ${readyTimeoutMs} ms:\n${logTail(log)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await probe.end({ timeout: 0 });
    }
  };

  try {
    await start();
  } catch (err) {
    onExit();
    process.removeListener("exit", onExit);
    throw err;
  }

  return {
    url: urlOf("postgres"),
    port,
    dir,
    pid: () =>
      child?.pid !== undefined && child.exitCode === null && child.signalCode === null
        ? child.pid
        : undefined,
    urlOf,
    async createDatabase(name) {
      const admin = postgres(urlOf("postgres"), { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
      } finally {
        await admin.end({ timeout: 0 });
      }
      return urlOf(name);
    },
    async stop(stopOpts = {}) {
      killGroup("SIGCONT");
      // SIGINT is the postmaster's fast shutdown: it ends sessions and checkpoints.
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, "SIGINT");
        } catch {}
      }
      await exited;
      if (stopOpts.keepData !== true) {
        process.removeListener("exit", onExit);
        rmSync(dir, { recursive: true, force: true });
      }
    },
    async kill() {
      killGroup("SIGKILL");
      await exited;
    },
    pause() {
      killGroup("SIGSTOP");
    },
    resume() {
      killGroup("SIGCONT");
    },
    start,
  };
}
