import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TOKEN_FILE } from "../api/auth.js";
import {
  ConfigError,
  defaultConfigPath,
  loadConfig,
  parseConfig,
  resolveConnection,
} from "./config.js";

const dir = mkdtempSync(join(tmpdir(), "aviary-config-"));

function file(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

/** An environment with no config of its own: XDG points at an empty directory. */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { XDG_CONFIG_HOME: join(dir, "no-xdg"), AVIARY_DATA_DIR: join(dir, "no-data"), ...extra };
}

const noWarn = (m: string) => assert.fail(`unexpected warning: ${m}`);

describe("CLI config", () => {
  it("reads server and token, and tokenFile relative to the config file", () => {
    assert.deepEqual(
      parseConfig("server: https://aviary.example:9900/\ntoken: abc\n", "/c/config.yaml"),
      {
        file: "/c/config.yaml",
        server: "https://aviary.example:9900",
        token: "abc",
      },
    );
    assert.deepEqual(parseConfig("tokenFile: secrets/token\n", "/c/config.yaml"), {
      file: "/c/config.yaml",
      tokenFile: "/c/secrets/token",
    });
    assert.deepEqual(parseConfig("", "/c/config.yaml"), { file: "/c/config.yaml" });
  });

  it("names file, line, column and key for an unknown key or a bad value, never the token", () => {
    const bad = (text: string) => {
      try {
        parseConfig(text, "/c/config.yaml");
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.message;
      }
      return assert.fail("accepted");
    };
    assert.equal(
      bad("server: http://a:1\nsever: http://b\n"),
      "/c/config.yaml:2:1: unknown key 'sever' (allowed: server, token, tokenFile)",
    );
    assert.equal(
      bad("server: 127.0.0.1:9900\n"),
      "/c/config.yaml:1:9: server: expected an http(s) URL such as http://127.0.0.1:9900, got '127.0.0.1:9900'",
    );
    assert.equal(bad("token: 12345\n"), "/c/config.yaml:1:8: token: expected a non-empty string");
    assert.equal(bad("token:\n"), "/c/config.yaml:1:7: token: expected a non-empty string");
    const secret = bad("token: 'sec ret'\n");
    assert.equal(secret, "/c/config.yaml:1:8: token: contains whitespace");
    assert.ok(!secret.includes("sec ret"));
    assert.equal(
      bad("token: a\ntokenFile: b\n"),
      "/c/config.yaml: token, tokenFile: give one of them, not both",
    );
    assert.match(bad("- server\n"), /^\/c\/config\.yaml:1:1: the config file must be a mapping/);
    assert.match(bad("server: [\n"), /^\/c\/config\.yaml:\d+:\d+: not valid YAML/);
    assert.match(
      bad("token: a\ntoken: b\n"),
      /^\/c\/config\.yaml:2:1: not valid YAML: Map keys must be unique/,
    );
  });

  it("a named config file must exist; the default one may be absent", () => {
    assert.throws(
      () => loadConfig(join(dir, "absent.yaml"), env(), noWarn),
      /cannot read the config file .*absent\.yaml \(from --config\)/,
    );
    assert.throws(
      () => loadConfig(undefined, env({ AVIARY_CONFIG: join(dir, "absent.yaml") }), noWarn),
      /\(from AVIARY_CONFIG\)/,
    );
    assert.equal(loadConfig(undefined, env(), noWarn), undefined);
    assert.equal(
      defaultConfigPath({ HOME: "/home/u", XDG_CONFIG_HOME: "/x" }),
      "/x/aviary/config.yaml",
    );
  });

  it("flags beat environment beat the config file beat the data directory", () => {
    const config = file("precedence.yaml", "server: http://from-config:1\ntoken: config-token\n");
    const dataDir = join(dir, "data");
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, TOKEN_FILE), "datadir-token\n");
    const resolve = (opts: Parameters<typeof resolveConnection>[0], e: NodeJS.ProcessEnv) => {
      const c = resolveConnection({ config, ...opts }, env(e), noWarn);
      return `${c.server} ${c.token} ${c.tokenSource}`;
    };
    assert.equal(resolve({}, {}), `http://from-config:1 config-token the config file ${config}`);
    assert.equal(
      resolve({}, { AVIARY_TOKEN: "env-token", AVIARY_DATA_DIR: dataDir }),
      "http://from-config:1 env-token AVIARY_TOKEN",
    );
    assert.equal(
      resolve({ token: "flag-token" }, { AVIARY_TOKEN: "env-token" }),
      "http://from-config:1 flag-token --token",
    );
    assert.equal(
      resolve({ dataDir }, { AVIARY_TOKEN: "env-token" }),
      `http://from-config:1 datadir-token ${join(dataDir, TOKEN_FILE)}`,
      "an explicit --data-dir is a flag",
    );
    assert.equal(
      resolve({ server: "http://from-flag:2" }, { AVIARY_SERVER: "http://from-env:3" }),
      `http://from-flag:2 undefined none`,
      "the config's token is not sent to another server",
    );
    assert.equal(
      resolve({}, { AVIARY_SERVER: "http://from-config:1/" }),
      `http://from-config:1 config-token the config file ${config}`,
      "the same server, written with a slash",
    );
    const noConfig = resolveConnection({}, env({ AVIARY_DATA_DIR: dataDir }), noWarn);
    assert.deepEqual(noConfig, {
      server: "http://127.0.0.1:9900",
      token: "datadir-token",
      tokenSource: join(dataDir, TOKEN_FILE),
    });
    assert.throws(
      () => resolveConnection({ server: "localhost:9900" }, env(), noWarn),
      /--server: expected an http\(s\) URL/,
    );
  });

  it("reads tokenFile, and says which file when it cannot", () => {
    const token = file("token", "file-token\n");
    const config = file("with-file.yaml", `tokenFile: ${token}\n`);
    assert.equal(resolveConnection({ config }, env(), noWarn).token, "file-token");
    const missing = file("missing-file.yaml", "tokenFile: nowhere/token\n");
    assert.throws(
      () => resolveConnection({ config: missing }, env(), noWarn),
      new RegExp(`missing-file\\.yaml: tokenFile: cannot read ${dir}/nowhere/token`),
    );
  });

  it("warns, as ssh does, when a file holding a token is readable by others", () => {
    const warnings: string[] = [];
    const open = file("open.yaml", "token: t\n", 0o644);
    loadConfig(open, env(), (m) => warnings.push(m));
    assert.deepEqual(warnings, [
      `${open} holds a token and is readable by others (mode 0644); run: chmod 600 ${open}`,
    ]);
    warnings.length = 0;
    loadConfig(file("closed.yaml", "token: t\n", 0o600), env(), (m) => warnings.push(m));
    loadConfig(file("no-token.yaml", "server: http://a:1\n", 0o644), env(), (m) =>
      warnings.push(m),
    );
    assert.equal(warnings.length, 0, warnings.join("\n"));
    const token = file("open-token", "t\n", 0o640);
    const named = file("names-open-token.yaml", `tokenFile: ${token}\n`);
    loadConfig(named, env(), (m) => warnings.push(m));
    assert.deepEqual(warnings, [
      `${token} holds the token named by ${named} and is readable by others (mode 0640); run: chmod 600 ${token}`,
    ]);
  });
});
