import type { Command } from "commander";
import { ApiClient, type ClientOptions } from "./client.js";

/** Adds the options every verb that talks to a server shares. */
export function withServerOptions(cmd: Command): Command {
  return cmd
    .option(
      "--server <url>",
      "Aviary's admin address (env AVIARY_SERVER; default http://127.0.0.1:9900)",
    )
    .option("--token <token>", "operator token (env AVIARY_TOKEN; default: read from --data-dir)")
    .option(
      "--data-dir <dir>",
      "the server's data directory, to read its token file (default .aviary)",
    )
    .option("-o, --output <format>", "text or json", "text");
}

export function clientFor(opts: ClientOptions): ApiClient {
  return new ApiClient(opts);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
