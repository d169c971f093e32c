/**
 * `docs/cli.md`, from the command tree itself (`buildProgram()`): every verb and sub-verb with
 * its usage line, arguments, options (flags, defaults, choices) and the examples its `--help`
 * prints, plus the exit codes every verb shares (`EXIT`).
 *
 * @module
 */

import type { Argument, Command, Option } from "commander";
import { EXIT } from "../../src/cli/exit.js";
import { buildProgram } from "../../src/cli/program.js";
import { Anchors, code, generatedBanner, page, slug, table } from "./markdown.js";

/** What each exit code means; a code added to EXIT without a line here stops the generator. */
const EXIT_MEANING: Record<keyof typeof EXIT, string> = {
  ok: "Success; also `--help` and `--version`.",
  failed:
    "The command ran and failed: the server refused it (its problem detail is printed), `validate` found problems, `--wait` saw the rollout aborted or ran past `--timeout`, `get --watch --exit-on-finish` saw it aborted, `demo --exit` did not go as planned.",
  usage:
    "A usage error: an unknown verb or flag, a missing or malformed value (also one only the server can check, such as a target URL: its 400 `AVIARY_BAD_REQUEST`), an unusable CLI config file. The message is printed, with the verb's help when the CLI itself found it.",
  unreachable:
    "The server could not be reached at the address the CLI resolved (`--server`, `AVIARY_SERVER`, the CLI config file, or the default).",
};

/** Every command below `cmd`, depth first, with its full name (`token create`). */
function walk(cmd: Command, prefix = ""): Array<{ name: string; cmd: Command }> {
  return cmd.commands.flatMap((sub) => {
    const name = `${prefix}${sub.name()}`;
    return [{ name, cmd: sub }, ...walk(sub, `${name} `)];
  });
}

/** The help text a user sees, including what the verb adds after it. */
function helpText(cmd: Command): string {
  let out = "";
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

/** The lines under "Example:" / "Examples:" in a verb's help, unindented. */
function examplesOf(cmd: Command): string[] {
  const match = /\nExamples?:\n((?: {2}.*\n?)+)/.exec(helpText(cmd));
  return (match?.[1] ?? "")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => l.slice(2));
}

function argumentsText(args: readonly Argument[]): string {
  if (args.length === 0) return "";
  const name = (a: Argument) => code(a.variadic ? `${a.name()}...` : a.name());
  if (args.every((a) => !a.description)) {
    const list = args.map((a) => `${name(a)} (${a.required ? "required" : "optional"})`);
    return `Arguments: ${list.join(", ")}.`;
  }
  return table(
    ["argument", "required", "description"],
    args.map((a) => [name(a), a.required ? "yes" : "", a.description]),
  );
}

function defaultOf(o: Option): string {
  if (o.negate) return ""; // `--no-color`: the default is the positive form
  if (o.defaultValueDescription !== undefined) return code(o.defaultValueDescription);
  if (o.defaultValue === undefined) return "";
  return code(typeof o.defaultValue === "string" ? o.defaultValue : JSON.stringify(o.defaultValue));
}

/** The options of `cmd`; `-h, --help` only where asked (every verb has it; the page says so once). */
function optionRows(cmd: Command, withHelp: boolean): string[][] {
  const help = cmd.createHelp();
  return help
    .visibleOptions(cmd)
    .filter((o) => withHelp || o.long !== "--help")
    .map((o) => [
      code(o.flags),
      o.mandatory ? "yes" : "",
      defaultOf(o),
      o.argChoices ? o.argChoices.map((c) => code(c)).join(", ") : "",
      o.description,
    ]);
}

function usageOf(cmd: Command, fullName: string): string {
  const usage = cmd.createHelp().commandUsage(cmd);
  // commandUsage names the parents ("aviary token create [options]"): keep it as the user types it.
  return usage.startsWith("aviary ") ? usage : `aviary ${fullName} ${cmd.usage()}`;
}

function verbSection(name: string, cmd: Command, level: number, anchors: Anchors): string {
  const title = `aviary ${name}`;
  anchors.take(title);
  const examples = examplesOf(cmd);
  const options = optionRows(cmd, false);
  const subs = cmd.commands.map(
    (c) => `[${code(`aviary ${name} ${c.name()}`)}](#${slugOfVerb(`${name} ${c.name()}`)})`,
  );
  return [
    `${"#".repeat(level)} ${code(title)}`,
    cmd.description(),
    `\`\`\`text\n${usageOf(cmd, name)}\n\`\`\``,
    subs.length > 0 ? `Sub-verbs: ${subs.join(", ")}.` : "",
    argumentsText(cmd.registeredArguments),
    options.length > 0
      ? table(["option", "required", "default", "choices", "description"], options)
      : "",
    examples.length > 0
      ? `${examples.length === 1 ? "Example" : "Examples"}:\n\n\`\`\`sh\n${examples.join("\n")}\n\`\`\``
      : "",
  ]
    .filter(Boolean)
    .join("\n\n");
}

function slugOfVerb(name: string): string {
  return slug(`aviary ${name}`);
}

export function cliReference(): string {
  const program = buildProgram();
  const anchors = new Anchors();
  anchors.take("CLI reference");
  anchors.take("Exit codes");
  anchors.take("Global options");
  const verbs = walk(program);

  const exitRows = Object.entries(EXIT)
    .sort((a, b) => a[1] - b[1])
    .map(([key, value]) => {
      const meaning = EXIT_MEANING[key as keyof typeof EXIT];
      if (meaning === undefined)
        throw new Error(
          `exit code ${key} (${value}) has no meaning in scripts/docs/cli-reference.ts`,
        );
      return [String(value), code(key), meaning];
    });

  const blocks: string[] = [
    generatedBanner("the command tree in `src/cli/` (`buildProgram()`)"),
    "# CLI reference",
    `${program.description()} Every verb below, with the options and examples its \`--help\` shows. Inside this repository, \`aviary\` is \`node dist/cli/main.js\` after \`npm run build\`.`,
    "Verbs that talk to a server find it at `--server`, else `AVIARY_SERVER`, else the CLI config file, else `http://127.0.0.1:9900`. Their token is `--token`, else the `operator-token` file of a `--data-dir` you name, else `AVIARY_TOKEN`, else the config file, else the `operator-token` file in `AVIARY_DATA_DIR` or `.aviary` (a CLI on the server's machine needs nothing). See [operations](operations.md#tokens).",
    verbs
      .map(
        ({ name }) =>
          `${"  ".repeat(name.split(" ").length - 1)}- [${code(`aviary ${name}`)}](#${slugOfVerb(name)})`,
      )
      .join("\n"),
    "## Global options",
    table(["option", "required", "default", "choices", "description"], optionRows(program, true)),
    "Every verb also takes `-h, --help`.",
    "## Exit codes",
    "Every verb exits with one of these, so a script can tell a failure from a typo from a dead server:",
    table(["code", "name", "meaning"], exitRows),
  ];
  for (const { name, cmd } of verbs)
    blocks.push(verbSection(name, cmd, name.includes(" ") ? 3 : 2, anchors));
  return page(blocks);
}
