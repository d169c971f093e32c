/**
 * A `serve --workers` worker: one {@link FleetRouter} in a node:cluster worker, following its
 * primary over loopback with the run's router token. node:cluster hands its data-plane listen
 * to the primary, which shares one socket among the workers. The primary is the worker's only
 * supervisor: it restarts it when it dies, and drains it on its own SIGTERM; a worker whose
 * primary disappears exits (node:cluster does that on an unexpected disconnect).
 *
 * @module
 */

import { formatListenAddress } from "../util/address.js";
import { createLogger } from "../util/log.js";
import { type FailedMessage, isMessage, type StartMessage, type ToPrimary } from "./messages.js";

const log = createLogger();

function send(m: ToPrimary): void {
  process.send?.(m);
}

async function run(start: StartMessage): Promise<void> {
  const workerLog = log.child({ worker: start.index });
  const { FleetRouter } = await import("../fleet/fleet-router.js");
  const router = new FleetRouter({
    id: start.id,
    controls: [start.control],
    token: start.token,
    listen: start.listen,
    // Its own ephemeral port on loopback: the primary and tests read what a worker serves from
    // the fleet's reports, so nobody needs to know the address in advance.
    status: { host: "127.0.0.1", port: 0 },
    dataDir: start.dataDir,
    log: workerLog,
    reportIntervalMs: start.reportIntervalMs,
  });
  let stopping = false;
  const drain = () => {
    if (stopping) return;
    stopping = true;
    router.close().then(
      () => process.exit(0),
      (err: unknown) => {
        workerLog.error({ err: String(err) }, "worker drain failed");
        process.exit(1);
      },
    );
  };
  process.on("message", (m) => {
    if (isMessage(m, "aviary.worker.drain")) drain();
  });
  // SIGTERM sent to the worker itself drains it (the primary then starts another); SIGINT from
  // a terminal reaches the whole process group, and the primary drains every worker for it.
  process.on("SIGTERM", drain);
  process.on("SIGINT", () => undefined);
  // A terminal's hangup reaches the whole group too: the primary re-reads the spec for it, and
  // the workers take the new state from it (SIGHUP's default would kill them).
  process.on("SIGHUP", () => undefined);
  await router.start();
  // The router binds its port with its first state (from disk or the control plane): "serving"
  // is said only once it is bound, and a bind that fails ends the worker with the reason.
  while (!(await router.serving(60_000))) {
    if (stopping) return;
    workerLog.warn({}, "the worker has no state to serve yet; waiting for the control plane");
  }
  const bound = router.listenAddress;
  if (bound !== undefined)
    send({ kind: "aviary.worker.serving", listen: formatListenAddress(bound) });
}

/** What the primary needs to say a failed bind in plain serve's words (see bindFailureMessage). */
function bindOf(err: unknown): FailedMessage["bind"] {
  const e = err as { code?: unknown; syscall?: unknown; address?: unknown; port?: unknown };
  if (typeof err !== "object" || err === null) return undefined;
  // In a cluster worker the primary binds, and the error it hands back says "bind".
  if (e.syscall !== "listen" && e.syscall !== "bind") return undefined;
  if (typeof e.code !== "string") return undefined;
  return {
    code: e.code,
    ...(typeof e.address === "string" ? { address: e.address } : {}),
    ...(typeof e.port === "number" ? { port: e.port } : {}),
  };
}

process.on("unhandledRejection", (reason) =>
  log.error({ err: String(reason) }, "unhandled rejection"),
);
let started = false;
const first = (m: unknown) => {
  // A drain before the start (the primary stopped while this worker was loading): nothing to
  // close yet.
  if (isMessage(m, "aviary.worker.drain")) process.exit(0);
  if (!isMessage<StartMessage>(m, "aviary.worker.start") || started) return;
  started = true;
  process.off("message", first);
  run(m).catch((err: unknown) => {
    const problem = err instanceof Error ? err.message : String(err);
    log.error({ worker: m.index, problem }, "worker cannot start");
    const bind = bindOf(err);
    send({ kind: "aviary.worker.failed", problem, ...(bind ? { bind } : {}) });
    // Exit once the message is out, so the primary has the reason before the exit.
    setTimeout(() => process.exit(1), 100);
  });
};
process.on("message", first);
send({ kind: "aviary.worker.hello" });
