import type { Command } from "commander";
import type { ClientOptions } from "../client.js";
import { formatService, formatServiceTable, type ServiceView } from "../format.js";
import { clientFor, printJson, withServerOptions } from "../options.js";

export function registerGet(program: Command): void {
  withServerOptions(
    program
      .command("get [service]")
      .description("Show every service, or one service with its rollout and steps.")
      .addHelpText("after", "\nExample:\n  aviary get\n  aviary get checkout -o json"),
  ).action(async (service: string | undefined, opts: ClientOptions & { output: string }) => {
    const client = clientFor(opts);
    if (service === undefined) {
      const { services } = await client.call<{ services: ServiceView[] }>(
        "GET",
        "/api/v1/services",
      );
      if (opts.output === "json") return printJson({ services });
      process.stdout.write(`${formatServiceTable(services)}\n`);
      return;
    }
    const view = await client.call<ServiceView>(
      "GET",
      `/api/v1/services/${encodeURIComponent(service)}`,
    );
    if (opts.output === "json") return printJson(view);
    process.stdout.write(`${formatService(view)}\n`);
  });
}
