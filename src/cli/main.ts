#!/usr/bin/env node
/**
 * The `aviary` command; the verbs are in `program.ts`.
 * Exit codes: 0 ok, 1 failed, 2 usage (a bad flag, a value the server refuses as malformed, a bad
 * config file), 3 cannot reach the server.
 *
 * @module
 */

import { CommanderError } from "commander";
import { AviaryError } from "../errors.js";
import { bindFailureMessage } from "../util/address.js";
import { EXIT } from "./exit.js";
import { buildProgram } from "./program.js";

// AVIARY_BAD_REQUEST: the server found a value the CLI was given unusable (`--target ftp://x`).
const USAGE_CODES = new Set(["AVIARY_USAGE", "AVIARY_CONFIG_INVALID", "AVIARY_BAD_REQUEST"]);

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version also arrive here, with exit code 0.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (err instanceof AviaryError) {
    process.stderr.write(`aviary: ${err.message}\n`);
    process.exitCode =
      err.code === "AVIARY_UNREACHABLE"
        ? EXIT.unreachable
        : USAGE_CODES.has(err.code)
          ? EXIT.usage
          : EXIT.failed;
  } else if (bindFailureMessage(err) !== undefined) {
    // `serve` could not bind an address: one line saying which and why, not a stack.
    process.stderr.write(`aviary: ${bindFailureMessage(err)}\n`);
    process.exitCode = EXIT.failed;
  } else {
    process.stderr.write(`aviary: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = EXIT.failed;
  }
}
