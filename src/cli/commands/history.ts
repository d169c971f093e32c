import type { Command } from "commander";
import type { RolloutEvent } from "../../rollout/types.js";
import type { ClientOptions } from "../client.js";
import { formatHistory } from "../format.js";
import { clientFor, printJson, withServerOptions } from "../options.js";

export function registerHistory(program: Command): void {
  withServerOptions(
    program
      .command("history <service>")
      .description("Every transition of a service's rollouts, oldest first, with actor and reason.")
      .option("--limit <n>", "at most this many events", "1000")
      .addHelpText("after", "\nExample:\n  aviary history checkout"),
  ).action(async (service: string, opts: ClientOptions & { output: string; limit: string }) => {
    const { events } = await clientFor(opts).call<{ events: RolloutEvent[] }>(
      "GET",
      `/api/v1/services/${encodeURIComponent(service)}/history?limit=${encodeURIComponent(opts.limit)}`,
    );
    if (opts.output === "json") return printJson({ events });
    process.stdout.write(`${formatHistory(events)}\n`);
  });
}
