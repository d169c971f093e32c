/**
 * Where the CLI finds its server and token: flags, then environment, then the config file,
 * then the server's token file in the data directory (what `aviary serve` writes).
 *
 * The config file (`--config`, AVIARY_CONFIG, default `$XDG_CONFIG_HOME/aviary/config.yaml`,
 * i.e. `~/.config/aviary/config.yaml`) is a YAML mapping with `server`, and `token` or
 * `tokenFile`. A token from the file is sent only to the file's own server when it names one,
 * so `--server` pointed elsewhere never carries it off. A file readable by others that holds a
 * token gets a warning, as ssh gives for a private key.
 *
 * @module
 */

import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { isMap, isScalar, LineCounter, parseDocument } from "yaml";
import { TOKEN_FILE } from "../api/auth.js";
import { AviaryError } from "../errors.js";

/** The flags every verb that talks to a server shares. */
export interface ClientOptions {
  server?: string;
  token?: string;
  dataDir?: string;
  config?: string;
}

export interface CliConfig {
  file: string;
  server?: string;
  token?: string;
  /** Absolute path of the file the token was read from, when the config names one. */
  tokenFile?: string;
}

/** Where the request goes and with which token; `tokenSource` names the token's origin (never the token). */
export interface Connection {
  server: string;
  token: string | undefined;
  tokenSource: string;
}

export const DEFAULT_SERVER = "http://127.0.0.1:9900";
const KEYS = ["server", "token", "tokenFile"] as const;

/** A config file that cannot be used; the message names the file (and the key, line and column). */
export class ConfigError extends AviaryError {
  constructor(message: string) {
    super("AVIARY_CONFIG_INVALID", message);
  }
}

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(base, "aviary", "config.yaml");
}

/**
 * Reads the config file. A file named by `--config` or AVIARY_CONFIG must exist; the default
 * one may be absent (undefined then).
 */
export function loadConfig(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  warn: (message: string) => void = (m) => process.stderr.write(`aviary: warning: ${m}\n`),
): CliConfig | undefined {
  const named = explicit ?? (env.AVIARY_CONFIG || undefined);
  const file = resolve(named ?? defaultConfigPath(env));
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (named === undefined && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    const from = explicit !== undefined ? "--config" : named !== undefined ? "AVIARY_CONFIG" : "";
    throw new ConfigError(
      `cannot read the config file ${file}${from ? ` (from ${from})` : ""}: ${(err as Error).message}`,
    );
  }
  const config = parseConfig(text, file);
  if (config.token !== undefined) warnIfShared(file, "holds a token", warn);
  if (config.tokenFile !== undefined) {
    warnIfShared(config.tokenFile, `holds the token named by ${file}`, warn);
  }
  return config;
}

/** Validates config text; every problem names the file, line, column and key. */
export function parseConfig(text: string, file: string): CliConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => {
    const pos = lines.linePos(offset ?? 0);
    return `${file}:${pos.line}:${pos.col}`;
  };
  const firstError = doc.errors[0];
  if (firstError !== undefined) {
    throw new ConfigError(
      `${at(firstError.pos[0])}: not valid YAML: ${firstError.message.split("\n")[0]}`,
    );
  }
  const config: CliConfig = { file };
  if (doc.contents === null) return config; // an empty file configures nothing
  if (!isMap(doc.contents)) {
    throw new ConfigError(
      `${at(doc.contents.range?.[0])}: the config file must be a mapping of ${KEYS.join(", ")}`,
    );
  }
  let tokenFileText: string | undefined;
  for (const pair of doc.contents.items) {
    const keyNode = pair.key;
    const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
    const where = at(isScalar(keyNode) ? keyNode.range?.[0] : undefined);
    if (!(KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`${where}: unknown key '${key}' (allowed: ${KEYS.join(", ")})`);
    }
    const valueNode = pair.value;
    const value = isScalar(valueNode) ? valueNode.value : undefined;
    const valueAt = at(isScalar(valueNode) ? valueNode.range?.[0] : valueNode?.range?.[0]);
    if (typeof value !== "string" || value.trim() === "") {
      throw new ConfigError(`${valueAt}: ${key}: expected a non-empty string`);
    }
    if (key === "server") {
      if (!isHttpUrl(value)) {
        throw new ConfigError(
          `${valueAt}: server: expected an http(s) URL such as ${DEFAULT_SERVER}, got '${value}'`,
        );
      }
      config.server = normalizeServer(value);
    } else if (key === "token") {
      // The value itself stays out of the message: it is a secret.
      if (/\s/.test(value)) throw new ConfigError(`${valueAt}: token: contains whitespace`);
      config.token = value;
    } else tokenFileText = value;
  }
  if (config.token !== undefined && tokenFileText !== undefined) {
    throw new ConfigError(`${file}: token, tokenFile: give one of them, not both`);
  }
  if (tokenFileText !== undefined) {
    const path = expandHome(tokenFileText);
    config.tokenFile = isAbsolute(path) ? path : resolve(dirname(file), path);
  }
  return config;
}

/**
 * The server and token a verb uses. Token order: --token, the token file of an explicit
 * --data-dir, AVIARY_TOKEN, the config file, the token file of AVIARY_DATA_DIR or `.aviary`.
 */
export function resolveConnection(
  opts: ClientOptions,
  env: NodeJS.ProcessEnv = process.env,
  warn?: (message: string) => void,
): Connection {
  const config = loadConfig(opts.config, env, warn);
  const flagServer = opts.server ?? (env.AVIARY_SERVER || undefined);
  if (flagServer !== undefined && !isHttpUrl(flagServer)) {
    const from = opts.server !== undefined ? "--server" : "AVIARY_SERVER";
    throw new AviaryError(
      "AVIARY_USAGE",
      `${from}: expected an http(s) URL such as ${DEFAULT_SERVER}, got '${flagServer}'`,
    );
  }
  const server = normalizeServer(flagServer ?? config?.server ?? DEFAULT_SERVER);
  const found = (token: string | undefined, tokenSource: string): Connection | undefined =>
    token === undefined ? undefined : { server, token, tokenSource };
  return (
    found(opts.token || undefined, "--token") ??
    (opts.dataDir !== undefined
      ? found(readTokenFile(join(opts.dataDir, TOKEN_FILE)), join(opts.dataDir, TOKEN_FILE))
      : undefined) ??
    found(env.AVIARY_TOKEN || undefined, "AVIARY_TOKEN") ??
    configToken(config, server) ??
    dataDirToken(env.AVIARY_DATA_DIR || ".aviary", server) ?? {
      server,
      token: undefined,
      tokenSource: "none",
    }
  );
}

function configToken(config: CliConfig | undefined, server: string): Connection | undefined {
  if (config === undefined) return undefined;
  // The file's token belongs to the file's server: never send it to another one.
  if (config.server !== undefined && config.server !== server) return undefined;
  if (config.token !== undefined) {
    return { server, token: config.token, tokenSource: `the config file ${config.file}` };
  }
  if (config.tokenFile === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(config.tokenFile, "utf8");
  } catch (err) {
    throw new ConfigError(
      `${config.file}: tokenFile: cannot read ${config.tokenFile}: ${(err as Error).message}`,
    );
  }
  const token = text.trim();
  if (token === "")
    throw new ConfigError(`${config.file}: tokenFile: ${config.tokenFile} is empty`);
  return { server, token, tokenSource: config.tokenFile };
}

function dataDirToken(dataDir: string, server: string): Connection | undefined {
  const file = join(dataDir, TOKEN_FILE);
  const token = readTokenFile(file);
  return token === undefined ? undefined : { server, token, tokenSource: file };
}

function readTokenFile(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

function warnIfShared(file: string, what: string, warn: (message: string) => void): void {
  if (process.platform === "win32") return;
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    return; // a missing token file is reported when it is read
  }
  if ((mode & 0o044) === 0) return;
  warn(
    `${file} ${what} and is readable by others (mode ${mode.toString(8).padStart(4, "0")}); run: chmod 600 ${file}`,
  );
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

function normalizeServer(url: string): string {
  return url.replace(/\/+$/, "");
}

function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? join(homedir(), path.slice(1)) : path;
}
