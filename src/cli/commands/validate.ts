import type { Command } from "commander";
import { loadSpecFile, SpecError } from "../../spec/load.js";
import { EXIT } from "../exit.js";

export function registerValidate(program: Command): void {
  program
    .command("validate")
    .description("Check a spec file and list every problem with file:line:column and field path.")
    .requiredOption("-f, --file <path>", "the spec file")
    .addHelpText("after", "\nExample:\n  aviary validate -f aviary.yaml")
    .action(async (opts: { file: string }) => {
      try {
        const spec = await loadSpecFile(opts.file);
        const n = spec.services.length;
        process.stdout.write(`${opts.file}: valid (${n} service${n === 1 ? "" : "s"})\n`);
      } catch (err) {
        if (!(err instanceof SpecError)) throw err;
        process.stderr.write(`${err.message}\n`);
        process.exitCode = EXIT.failed;
      }
    });
}
