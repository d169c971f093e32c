import type { Command } from "commander";
import { loadSpecFile, SpecError } from "../../spec/load.js";
import { formatListenAddress } from "../../util/address.js";
import { createLogger } from "../../util/log.js";
import { EXIT } from "../exit.js";

interface ServeOptions {
  config: string;
  listen?: string;
  admin?: string;
  dataDir: string;
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
    .addHelpText(
      "after",
      "\nExample:\n  aviary serve -c examples/aviary.yaml --listen 127.0.0.1:8080",
    )
    .action(async (opts: ServeOptions) => {
      const log = createLogger();
      const spec = await loadSpecFile(opts.config);
      // Loaded here, not at the top: every other verb would pay for the whole server at start.
      const { startAviary } = await import("../../server.js");
      const aviary = await startAviary({
        spec,
        log,
        dataDir: opts.dataDir,
        faults: crashHooks(),
        ...(opts.listen ? { listen: opts.listen } : {}),
        ...(opts.admin ? { admin: opts.admin } : {}),
      });
      process.on("SIGHUP", () => {
        loadSpecFile(opts.config).then(
          async (next) => {
            const changes = await aviary.reload(next);
            log.info(
              {
                services: next.services.length,
                changes: changes.map((c) => `${c.service}: ${c.summary}`),
              },
              "spec reloaded",
            );
          },
          (err: unknown) => {
            // A broken edit must not take down a running router: keep serving the last good spec.
            const detail = err instanceof SpecError ? err.problems : String(err);
            log.error({ problems: detail }, "spec reload refused; still serving the previous spec");
          },
        );
      });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          process.exit(EXIT.failed);
        }
        stopping = true;
        log.info({ signal }, "draining");
        aviary.close().then(
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
          listen: formatListenAddress(aviary.listen),
          admin: formatListenAddress(aviary.adminAddress),
          dashboard: `http://${formatListenAddress(aviary.adminAddress)}/dashboard/`,
          services: spec.services.length,
          dataDir: opts.dataDir,
          tokenFrom: aviary.tokenSource,
        },
        "aviary serving",
      );
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
