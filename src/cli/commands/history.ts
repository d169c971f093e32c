import type { Command } from "commander";
import type { RolloutEvent } from "../../rollout/types.js";
import { formatHistory } from "../format.js";
import {
  clientFor,
  positiveIntArg,
  printData,
  type ServerVerbOptions,
  withServerOptions,
} from "../options.js";

export function registerHistory(program: Command): void {
  withServerOptions(
    program
      .command("history <service>")
      .description("Every transition of a service's rollouts, oldest first, with actor and reason.")
      .option("--limit <n>", "at most this many events (at most 10000)", positiveIntArg, 1000)
      .addHelpText(
        "after",
        "\nExample:\n  aviary history checkout --limit 50\n  aviary history checkout -o yaml",
      ),
  ).action(async (service: string, opts: ServerVerbOptions & { limit: number }) => {
    const { events } = await clientFor(opts).call<{ events: RolloutEvent[] }>(
      "GET",
      `/api/v1/services/${encodeURIComponent(service)}/history?limit=${opts.limit}`,
    );
    if (printData(opts.output, { events })) return;
    process.stdout.write(
      events.length === 0 ? `${service}: no history yet\n` : `${formatHistory(events)}\n`,
    );
  });
}
