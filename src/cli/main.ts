#!/usr/bin/env node
/**
 * The `aviary` command. Each verb lives in `commands/<verb>.ts` and registers itself here.
 * Exit codes: 0 ok, 1 failed, 2 usage, 3 cannot reach the server.
 *
 * @module
 */

import { Command, CommanderError } from "commander";
import { AviaryError } from "../errors.js";
import { VERSION } from "../version.js";
import { registerAnalysis } from "./commands/analysis.js";
import { registerApply } from "./commands/apply.js";
import { registerDemo } from "./commands/demo.js";
import { registerGet } from "./commands/get.js";
import { registerHistory } from "./commands/history.js";
import { registerRolloutVerbs } from "./commands/rollout.js";
import { registerSchema } from "./commands/schema.js";
import { registerServe } from "./commands/serve.js";
import { registerValidate } from "./commands/validate.js";
import { EXIT } from "./exit.js";

const program = new Command()
  .name("aviary")
  .description("Progressive delivery: weighted canary routing, analysis, promotion and rollback.")
  .version(VERSION)
  .enablePositionalOptions()
  .showHelpAfterError()
  .exitOverride();

registerServe(program);
registerValidate(program);
registerSchema(program);
registerDemo(program);
registerApply(program);
registerGet(program);
registerRolloutVerbs(program);
registerHistory(program);
registerAnalysis(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version also arrive here, with exit code 0.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (err instanceof AviaryError) {
    process.stderr.write(`aviary: ${err.message}\n`);
    process.exitCode = err.code === "AVIARY_UNREACHABLE" ? EXIT.unreachable : EXIT.failed;
  } else {
    process.stderr.write(`aviary: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = EXIT.failed;
  }
}
