/**
 * `aviary router`: a data-plane-only process of the fleet (see `src/fleet/fleet-router.ts` and
 * docs/fleet.md). It needs no database and no spec file: the control plane's API tells it
 * what to serve, and its data directory remembers the last state it took.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { Command } from "commander";
import { AviaryError } from "../../errors.js";
import { formatListenAddress, type ListenAddress, parseListenAddress } from "../../util/address.js";
import { parseDuration } from "../../util/duration.js";
import { createLogger } from "../../util/log.js";
import { EXIT } from "../exit.js";

interface RouterOptions {
  control: string;
  tokenFile?: string;
  listen: string;
  status: string;
  dataDir: string;
  id?: string;
  reportEvery: string;
}

export function registerRouter(program: Command): void {
  program
    .command("router")
    .description(
      "Run a router of the fleet: it serves what the control plane (any aviary serve instance with dataplane.engine: fleet) says, keeps the last state on disk, serves it when the control plane is unreachable, and reports its traffic for the analysis. SIGTERM drains and exits.",
    )
    .requiredOption(
      "--control <urls>",
      "control-plane admin URLs, comma-separated; the next is tried when one fails",
    )
    .option(
      "--token-file <path>",
      "a file holding the router token (else AVIARY_ROUTER_TOKEN); create one with aviary token create --role router",
    )
    .option("--listen <host:port>", "data-plane address", "0.0.0.0:8080")
    .option(
      "--status <host:port>",
      "status address: GET /status (what it serves, since when it has not heard from the control plane) and /healthz",
      "127.0.0.1:9901",
    )
    .option("--data-dir <dir>", "where the last known good state is kept", ".aviary-router")
    .option(
      "--report-every <duration>",
      "how often it reports what it serves and its traffic (the control plane calls it stale after three)",
      "2s",
    )
    .option("--id <id>", "this router's name in reports (default <hostname>-<listen port>)")
    .addHelpText(
      "after",
      "\nExample:\n  aviary router --control http://10.0.0.1:9900,http://10.0.0.2:9900 --token-file /etc/aviary/router-token --listen 0.0.0.0:8080",
    )
    .action(async (opts: RouterOptions) => {
      const log = createLogger();
      const listen = address(opts.listen, "--listen");
      const status = address(opts.status, "--status");
      const controls = opts.control
        .split(",")
        .map((u) => u.trim())
        .filter((u) => u !== "");
      for (const u of controls)
        if (!/^https?:\/\/[^/]+\/?$/.test(u))
          throw new AviaryError(
            "AVIARY_BAD_REQUEST",
            `--control: '${u}' is not a URL like http://10.0.0.1:9900`,
          );
      const token = routerToken(opts.tokenFile);
      const reportIntervalMs = parseDuration(opts.reportEvery);
      if (reportIntervalMs === undefined || reportIntervalMs < 100 || reportIntervalMs > 60_000)
        throw new AviaryError(
          "AVIARY_BAD_REQUEST",
          `--report-every: expected a duration from 100ms to 60s, got '${opts.reportEvery}'`,
        );
      const id = opts.id ?? `${hostname()}-${listen.port}`;
      const { FleetRouter } = await import("../../fleet/fleet-router.js");
      const router = new FleetRouter({
        id,
        controls,
        token,
        listen,
        status,
        dataDir: opts.dataDir,
        log,
        reportIntervalMs,
      });
      await router.start();
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) process.exit(EXIT.failed);
        stopping = true;
        log.info({ signal }, "draining");
        router.close().then(
          () => process.exit(EXIT.ok),
          () => process.exit(EXIT.failed),
        );
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("unhandledRejection", (reason) =>
        log.error({ err: String(reason) }, "unhandled rejection"),
      );
      const s = router.status();
      log.info(
        {
          id,
          control: controls,
          listen: s.listen,
          status: formatListenAddress(router.statusAddress ?? status),
          serving: s.source,
          dataDir: opts.dataDir,
        },
        "aviary router started",
      );
    });
}

function address(text: string, option: string): ListenAddress {
  const a = parseListenAddress(text);
  if (a === undefined)
    throw new AviaryError("AVIARY_BAD_REQUEST", `${option}: expected HOST:PORT, got '${text}'`);
  return a;
}

/** The router token: --token-file, else AVIARY_ROUTER_TOKEN; never logged. */
function routerToken(file: string | undefined): string {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, "utf8").trim();
    } catch (err) {
      throw new AviaryError(
        "AVIARY_BAD_REQUEST",
        `--token-file ${file}: ${(err as Error).message}`,
      );
    }
    if (text === "") throw new AviaryError("AVIARY_BAD_REQUEST", `--token-file ${file}: empty`);
    return text;
  }
  const env = process.env.AVIARY_ROUTER_TOKEN;
  if (env === undefined || env === "")
    throw new AviaryError(
      "AVIARY_BAD_REQUEST",
      "a router token is needed: --token-file <path> or AVIARY_ROUTER_TOKEN (aviary token create --name edge-1 --role router)",
    );
  return env;
}
