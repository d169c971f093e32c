import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Command } from "commander";
import { buildProgram } from "./program.js";

/** Every command below the root, with its full name (`token create`). */
function verbs(cmd: Command, prefix = ""): Array<{ name: string; cmd: Command }> {
  return cmd.commands.flatMap((sub) => {
    const name = `${prefix}${sub.name()}`;
    return [{ name, cmd: sub }, ...verbs(sub, `${name} `)];
  });
}

/** The help a user sees, including the text added after it. */
function helpOf(cmd: Command): string {
  let out = "";
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

describe("aviary --help", () => {
  const all = verbs(buildProgram());

  it("finds the verbs", () => {
    const names = all.map((v) => v.name);
    for (const verb of ["serve", "get", "deploy", "promote", "abort", "history", "analysis"])
      assert.ok(names.includes(verb), `${verb} in ${names.join(", ")}`);
  });

  it("every verb shows a realistic example that runs that verb", () => {
    const missing: string[] = [];
    for (const { name, cmd } of all) {
      if (cmd.commands.length > 0) continue; // a family (e.g. `token`): its verbs carry the examples
      const help = helpOf(cmd);
      const example = /\nExamples?:\n((?: {2}.+\n?)+)/.exec(help);
      const lines = example?.[1]?.split("\n").filter((l) => l.trim() !== "") ?? [];
      const runs = lines.filter((l) => l.trim().startsWith(`aviary ${name}`));
      if (runs.length === 0) missing.push(`${name}:\n${help}`);
      for (const l of runs)
        assert.doesNotMatch(
          l,
          /<[a-z-]+>|\bfoo\b|\bbar\b/i,
          `${name}: a placeholder in the example: ${l}`,
        );
    }
    assert.deepEqual(missing, [], "verbs without an example");
  });

  it("every verb that prints data accepts -o json|yaml and names the formats", () => {
    for (const verb of [
      "get",
      "history",
      "analysis",
      "apply",
      "deploy",
      "promote",
      "pause",
      "resume",
      "abort",
      "retry",
      "undo",
    ]) {
      const cmd = all.find((v) => v.name === verb)?.cmd;
      assert.ok(cmd, verb);
      const help = helpOf(cmd).replace(/\s+/g, " ");
      assert.match(help, /-o, --output <format> .*\(choices: "text", "json", "yaml"/, verb);
    }
  });

  it("deploy, promote, resume and retry can --wait", () => {
    for (const verb of ["deploy", "promote", "resume", "retry"]) {
      const cmd = all.find((v) => v.name === verb)?.cmd;
      assert.ok(cmd, verb);
      assert.match(helpOf(cmd), /--wait/, verb);
    }
  });
});
