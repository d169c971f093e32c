import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import type { SpecChange } from "../../rollout/spec-changes.js";
import { parseSpec } from "../../spec/load.js";
import { clientFor, printData, type ServerVerbOptions, withServerOptions } from "../options.js";

export function registerApply(program: Command): void {
  withServerOptions(
    program
      .command("apply")
      .description(
        "Apply a changed spec to a running Aviary: prints what changes (a new canary starts a rollout), then applies it.",
      )
      .requiredOption("-f, --file <path>", "the spec file")
      .option("--dry-run", "print the changes only", false)
      .addHelpText(
        "after",
        "\nExample:\n  aviary apply -f aviary.yaml --dry-run\n  aviary apply -f aviary.yaml",
      ),
  ).action(async (opts: ServerVerbOptions & { file: string; dryRun: boolean }) => {
    const text = await readFile(opts.file, "utf8");
    parseSpec(text, opts.file); // refuse locally, with positions, before asking the server
    const client = clientFor(opts);
    const plan = await client.call<{ changes: SpecChange[] }>("POST", "/api/v1/apply", {
      spec: text,
      file: opts.file,
      dryRun: true,
    });
    if (opts.output === "text") process.stdout.write(`${formatChanges(plan.changes)}\n`);
    if (opts.dryRun || plan.changes.length === 0) {
      printData(opts.output, { dryRun: true, changes: plan.changes });
      return;
    }
    const done = await client.call<{ changes: SpecChange[] }>("POST", "/api/v1/apply", {
      spec: text,
      file: opts.file,
      dryRun: false,
    });
    if (!printData(opts.output, { dryRun: false, changes: done.changes }))
      process.stdout.write("applied\n");
  });
}

function formatChanges(changes: SpecChange[]): string {
  if (changes.length === 0) return "no changes";
  return changes.map((c) => `~ ${c.service}: ${c.summary}`).join("\n");
}
