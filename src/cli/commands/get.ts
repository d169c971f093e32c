import type { Command } from "commander";
import { formatService, formatServiceTable, type ServiceView } from "../format.js";
import {
  clientFor,
  intervalOption,
  printData,
  type ServerVerbOptions,
  withServerOptions,
} from "../options.js";
import { watchService } from "../watch/watch.js";

type GetOptions = ServerVerbOptions & {
  watch?: boolean;
  interval: number;
  exitOnFinish?: boolean;
  color: boolean;
};

export function registerGet(program: Command): void {
  withServerOptions(
    program
      .command("get [service]")
      .description(
        "Show every service, or one service with its rollout and steps; --watch follows it live.",
      )
      .option(
        "-w, --watch",
        "redraw a live view of the service: steps, weight, canary against stable, analysis, what to run next (q or Ctrl-C ends it); with -o json|yaml, one document per change",
      )
      .addOption(intervalOption("with --watch"))
      .option(
        "--exit-on-finish",
        "with --watch: end when the rollout is Healthy (exit 0) or Aborted (exit 1)",
      )
      .option("--no-color", "no colours (also when NO_COLOR is set or stdout is not a terminal)")
      .addHelpText(
        "after",
        `
Example:
  aviary get
  aviary get checkout -o yaml
  aviary get checkout --watch
  aviary get checkout --watch --exit-on-finish -o json | jq -c '.rollout.phase'`,
      ),
  ).action(async (service: string | undefined, opts: GetOptions, cmd: Command) => {
    if (!opts.watch) {
      for (const flag of ["interval", "exitOnFinish"]) {
        if (cmd.getOptionValueSource(flag) === "cli")
          cmd.error(
            `error: --${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} works only with --watch`,
          );
      }
    }
    const client = clientFor(opts);
    if (service === undefined) {
      if (opts.watch) cmd.error("error: --watch needs a service: aviary get SERVICE --watch");
      const { services } = await client.call<{ services: ServiceView[] }>(
        "GET",
        "/api/v1/services",
      );
      if (!printData(opts.output, { services }))
        process.stdout.write(`${formatServiceTable(services)}\n`);
      return;
    }
    if (opts.watch) {
      const color =
        opts.color &&
        process.stdout.isTTY === true &&
        !process.env.NO_COLOR &&
        process.env.TERM !== "dumb";
      process.exitCode = await watchService({
        client,
        service,
        intervalMs: opts.interval,
        exitOnFinish: opts.exitOnFinish === true,
        output: opts.output,
        color,
      });
      return;
    }
    const view = await client.call<ServiceView>(
      "GET",
      `/api/v1/services/${encodeURIComponent(service)}`,
    );
    if (!printData(opts.output, view)) process.stdout.write(`${formatService(view)}\n`);
  });
}
