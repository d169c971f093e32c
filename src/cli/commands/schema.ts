import type { Command } from "commander";
import { specJsonSchema } from "../../spec/json-schema.js";

export function registerSchema(program: Command): void {
  program
    .command("schema")
    .description("Print the spec's JSON Schema, for editors (yaml-language-server) and tooling.")
    .addHelpText(
      "after",
      "\nExample:\n  aviary schema > aviary.schema.json\n  # then in aviary.yaml: # yaml-language-server: $schema=./aviary.schema.json",
    )
    .action(() => {
      process.stdout.write(`${JSON.stringify(specJsonSchema(), null, 2)}\n`);
    });
}
