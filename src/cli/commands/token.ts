/**
 * `aviary token create|list|revoke`: the admin API's tokens file, edited in place on the
 * server's machine (no server call: the server notices the change within a second). A new
 * token is printed once and only its hash is kept.
 *
 * @module
 */

import { resolve } from "node:path";
import { type Command, Option } from "commander";
import {
  editTokensFile,
  formatTokenLine,
  generateToken,
  hashToken,
  ROLES,
  type Role,
  readTokensFile,
  TOKENS_FILE_HEADER,
  type TokenEntry,
  tokenNameProblem,
} from "../../api/tokens-file.js";
import { AviaryError } from "../../errors.js";

export interface TokensFileOptions {
  dataDir?: string;
  tokensFile?: string;
}

/** --tokens-file as given (relative to here), else `tokens` in the data directory. */
export function tokensFilePath(opts: TokensFileOptions, env = process.env): string {
  if (opts.tokensFile !== undefined) return resolve(opts.tokensFile);
  return resolve(opts.dataDir ?? (env.AVIARY_DATA_DIR || ".aviary"), "tokens");
}

/** Adds a token for `name`; returns the token, which exists nowhere else from now on. */
export function createToken(
  file: string,
  name: string,
  role: Role,
  now: Date = new Date(),
): { token: string; entry: Omit<TokenEntry, "line"> } {
  const problem = tokenNameProblem(name);
  if (problem !== undefined) throw new AviaryError("AVIARY_USAGE", `--name ${name}: ${problem}`);
  const token = generateToken();
  const entry = { hash: hashToken(token), role, name, created: now.toISOString() };
  editTokensFile(file, ({ text, entries }) => {
    if (entries.some((e) => e.name === name)) {
      throw new AviaryError(
        "AVIARY_TOKEN_EXISTS",
        `${file} already has a token named ${name}: revoke it first, or pick another name`,
      );
    }
    const base = text === "" ? `${TOKENS_FILE_HEADER}\n` : text.endsWith("\n") ? text : `${text}\n`;
    return `${base}${formatTokenLine(entry)}\n`;
  });
  return { token, entry };
}

/** Removes the token named `name` (its line only; comments and other lines stay). */
export function revokeToken(file: string, name: string): void {
  editTokensFile(file, ({ text, entries }) => {
    const entry = entries.find((e) => e.name === name);
    if (entry === undefined)
      throw new AviaryError("AVIARY_NO_TOKEN", `${file} has no token named ${name}`);
    const lines = text.split("\n");
    lines.splice(entry.line - 1, 1);
    return lines.join("\n");
  });
}

export function listTokens(file: string): TokenEntry[] {
  return readTokensFile(file).entries;
}

const fileOptions = (cmd: Command): Command =>
  cmd
    .option(
      "--data-dir <dir>",
      "the server's data directory; the tokens file is its `tokens` (env AVIARY_DATA_DIR; default .aviary)",
    )
    .option(
      "--tokens-file <file>",
      "the tokens file itself, when the spec's auth.tokensFile moved it",
    );

export function registerToken(program: Command): void {
  const token = program
    .command("token")
    .description("Manage the admin API's tokens (the tokens file in the server's data directory).")
    .addHelpText(
      "after",
      "\nExample:\n  aviary token create --name ci --role operator\n  aviary token list\n  aviary token revoke ci",
    );

  fileOptions(
    token
      .command("create")
      .description(
        "Create a token and print it once: only its hash is kept. A running server picks it up within a second.",
      )
      .requiredOption("--name <name>", "who or what holds it (shown as operator:<name> in history)")
      .addOption(
        new Option(
          "--role <role>",
          "what it may do: read-only (GET), operator (everything) router (an aviary router: the fleet state and its reports only) or client (an app's OpenFeature SDK: flag evaluation on the OFREP listener only)",
        )
          .choices(ROLES)
          .default("read-only"),
      )
      .addHelpText(
        "after",
        "\nExample:\n  aviary token create --name dashboard\n  aviary token create --name ci --role operator --data-dir /var/lib/aviary",
      ),
  ).action((opts: TokensFileOptions & { name: string; role: Role }) => {
    const file = tokensFilePath(opts);
    const { token: created } = createToken(file, opts.name, opts.role);
    process.stdout.write(`${created}\n`);
    process.stderr.write(
      `aviary: ${opts.role} token '${opts.name}' added to ${file}; it is shown only now and not stored. Use it as 'Authorization: Bearer <token>', or AVIARY_TOKEN=<token> for the aviary CLI.\n`,
    );
  });

  fileOptions(
    token
      .command("list")
      .description("List the tokens file's names, roles and creation times (never the tokens).")
      .option("-o, --output <format>", "text or json", "text")
      .addHelpText("after", "\nExample:\n  aviary token list -o json"),
  ).action((opts: TokensFileOptions & { output: string }) => {
    const entries = listTokens(tokensFilePath(opts)).map(({ name, role, created }) => ({
      name,
      role,
      created,
    }));
    if (opts.output === "json") {
      process.stdout.write(`${JSON.stringify({ tokens: entries }, null, 2)}\n`);
      return;
    }
    const rows = [
      ["NAME", "ROLE", "CREATED"],
      ...entries.map((e) => [e.name, e.role, e.created ?? "-"]),
    ];
    const width = Math.max(...rows.map((r) => (r[0] as string).length)) + 2;
    process.stdout.write(
      `${rows.map((r) => `${(r[0] as string).padEnd(width)}${(r[1] as string).padEnd(11)}${r[2]}`).join("\n")}\n`,
    );
  });

  fileOptions(
    token
      .command("revoke <name>")
      .description("Remove a token; a running server refuses it within a second.")
      .addHelpText("after", "\nExample:\n  aviary token revoke ci"),
  ).action((name: string, opts: TokensFileOptions) => {
    const file = tokensFilePath(opts);
    revokeToken(file, name);
    process.stdout.write(`revoked ${name} (${file})\n`);
  });
}
