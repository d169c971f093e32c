/**
 * The options verbs share: where the server is and with which token (`config.ts` resolves
 * them), and `-o/--output` for the verbs that print data. JSON output is the API's answer as
 * is; YAML is the same document, so scripts can rely on either.
 *
 * @module
 */

import { type Command, InvalidArgumentError, Option } from "commander";
import { stringify } from "yaml";
import { formatDuration, parseDuration } from "../util/duration.js";
import { ApiClient } from "./client.js";
import { type ClientOptions, DEFAULT_SERVER, resolveConnection } from "./config.js";

export type { ClientOptions } from "./config.js";

export const OUTPUT_FORMATS = ["text", "json", "yaml"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Options of a verb that talks to a server and prints data. */
export type ServerVerbOptions = ClientOptions & { output: OutputFormat };

/** Adds the options every verb that talks to a server shares. */
export function withServerOptions(cmd: Command): Command {
  return cmd
    .option(
      "--server <url>",
      `Aviary's admin address (env AVIARY_SERVER; default ${DEFAULT_SERVER})`,
    )
    .option(
      "--token <token>",
      "API token (env AVIARY_TOKEN; default: the config file, else the token file in --data-dir)",
    )
    .option(
      "--data-dir <dir>",
      "the server's data directory, to read its token file (env AVIARY_DATA_DIR; default .aviary)",
    )
    .option(
      "--config <file>",
      "CLI config file with server, token or tokenFile (env AVIARY_CONFIG; default ~/.config/aviary/config.yaml)",
    )
    .addOption(
      new Option("-o, --output <format>", "how to print the result")
        .choices(OUTPUT_FORMATS)
        .default("text"),
    );
}

export function clientFor(opts: ClientOptions): ApiClient {
  return new ApiClient(resolveConnection(opts));
}

/** A data document as JSON or YAML text, ending in a newline. */
export function formatData(format: "json" | "yaml", value: unknown): string {
  if (format === "json") return `${JSON.stringify(value, null, 2)}\n`;
  // No folding of long strings and no anchors: the same document a JSON reader would get.
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

/**
 * Prints `value` as JSON or YAML when the output format asks for data; returns false for text
 * output, which the verb then prints its own way.
 */
export function printData(format: OutputFormat, value: unknown): boolean {
  if (format === "text") return false;
  process.stdout.write(formatData(format, value));
  return true;
}

/** `--interval`: how often a following verb reads the server (at least 100 ms). */
export function intervalOption(what: string): Option {
  return new Option("--interval <duration>", `${what}: how often to read the server`)
    .argParser(durationArg(100, 3_600_000))
    .default(1_000, "1s");
}

/** The longest delay one Node timer can wait; a longer one fires after 1 ms instead. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Parses a duration option (`500ms`, `2s`, `1m`); a bare number means seconds. `max` keeps a
 * value that arms a timer within what one timer can wait (about 24.8 days).
 */
export function durationArg(min: number, max = MAX_TIMER_MS): (text: string) => number {
  return (text) => {
    const ms = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : parseDuration(text);
    if (ms === undefined)
      throw new InvalidArgumentError("expected a duration such as 1s or 500ms.");
    if (ms < min) throw new InvalidArgumentError(`must be at least ${min}ms.`);
    if (ms > max) throw new InvalidArgumentError(`must be at most ${formatDuration(max)}.`);
    return ms;
  };
}

/** Parses a positive integer option. */
export function positiveIntArg(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError("expected a whole number of at least 1.");
  return n;
}
