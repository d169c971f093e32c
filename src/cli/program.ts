/**
 * The `aviary` command tree: every verb registers itself here. Kept apart from `main.ts` so
 * tests can walk the tree (every verb has an example) without running the command.
 *
 * @module
 */

import { Command } from "commander";
import { VERSION } from "../version.js";
import { registerAnalysis } from "./commands/analysis.js";
import { registerApply } from "./commands/apply.js";
import { registerDemo } from "./commands/demo.js";
import { registerGet } from "./commands/get.js";
import { registerHistory } from "./commands/history.js";
import { registerRender } from "./commands/render.js";
import { registerRolloutVerbs } from "./commands/rollout.js";
import { registerRouter } from "./commands/router.js";
import { registerSchema } from "./commands/schema.js";
import { registerServe } from "./commands/serve.js";
import { registerToken } from "./commands/token.js";
import { registerValidate } from "./commands/validate.js";

export function buildProgram(): Command {
  const program = new Command()
    .name("aviary")
    .description("Progressive delivery: weighted canary routing, analysis, promotion and rollback.")
    .version(VERSION)
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride();

  registerServe(program);
  registerRouter(program);
  registerValidate(program);
  registerRender(program);
  registerSchema(program);
  registerDemo(program);
  registerApply(program);
  registerGet(program);
  registerRolloutVerbs(program);
  registerHistory(program);
  registerAnalysis(program);
  registerToken(program);
  return program;
}
