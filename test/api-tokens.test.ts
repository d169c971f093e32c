/**
 * The tokens file end to end: `aviary token` writes it (atomically, 0600, hashes only), a
 * running server picks changes up without a restart, a revoked token stops working, a broken
 * edit keeps the previous tokens in force, and a broken file at startup names file:line.
 */

import assert from "node:assert/strict";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { Command } from "commander";
import { pino } from "pino";
import { hashToken, TokensFileError } from "../src/api/tokens-file.js";
import {
  createToken,
  listTokens,
  registerToken,
  revokeToken,
  tokensFilePath,
} from "../src/cli/commands/token.js";
import { startAviary } from "../src/server.js";
import { Spec } from "../src/spec/schema.js";
import { ManualClock } from "../src/util/clock.js";
import { silentLogger } from "../src/util/log.js";
import { startAdmin, type TestAdmin } from "./admin-fixtures.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "aviary-tokens-"));

/** Runs `aviary token ...` in-process; returns what it printed. */
async function cli(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const program = new Command().exitOverride();
  registerToken(program);
  let stdout = "";
  let stderr = "";
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((s: string) => {
    stdout += s;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => {
    stderr += s;
    return true;
  }) as typeof process.stderr.write;
  try {
    await program.parseAsync(args, { from: "user" });
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  return { stdout, stderr };
}

describe("aviary token", () => {
  it("create prints a fresh token once, keeps only its hash, 0600, and refuses a name in use", async () => {
    const dataDir = join(tempDir(), "data");
    const { stdout, stderr } = await cli(
      "token",
      "create",
      "--name",
      "ci",
      "--role",
      "operator",
      "--data-dir",
      dataDir,
    );
    const token = stdout.trim();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/, "32 random bytes, base64url");
    assert.equal(stdout, `${token}\n`, "stdout carries the token alone");
    assert.match(stderr, /shown only now and not stored/);
    assert.match(stderr, /Authorization: Bearer <token>/);
    assert.equal(stderr.split("\n").filter(Boolean).length, 1, "a one-line hint");
    assert.ok(!stderr.includes(token));

    const file = join(dataDir, "tokens");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, "utf8");
    assert.ok(!text.includes(token), "the token itself is not in the file");
    assert.match(
      text,
      new RegExp(`^sha256:${hashToken(token)} operator ci \\d{4}-\\d\\d-\\d\\dT`, "m"),
    );
    assert.deepEqual(
      readdirSync(dataDir).sort(),
      ["tokens"],
      "no temporary or lock file left behind",
    );

    await assert.rejects(
      cli("token", "create", "--name", "ci", "--data-dir", dataDir),
      /already has a token named ci/,
    );
    await assert.rejects(
      cli("token", "create", "--name", "operator", "--data-dir", dataDir),
      /belongs to the operator token/,
    );
    await assert.rejects(
      cli("token", "create", "--name", "has space", "--data-dir", dataDir),
      /a token name is 1-64 letters/,
    );
    await assert.rejects(
      cli("token", "create", "--name", "x", "--role", "admin", "--data-dir", dataDir),
      /Allowed choices are read-only, operator/,
    );
  });

  it("create defaults to read-only; list shows names, roles and times, never hashes; revoke removes one line", async () => {
    const file = join(tempDir(), "custom-tokens");
    // A hand-written line in the 3-field form and a comment survive every edit.
    writeFileSync(file, `# ours\nsha256:${hashToken("by-hand")} read-only legacy\n`, {
      mode: 0o600,
    });
    await cli("token", "create", "--name", "dash", "--tokens-file", file);
    const listed = await cli("token", "list", "--tokens-file", file, "-o", "json");
    const tokens = JSON.parse(listed.stdout).tokens as Array<Record<string, unknown>>;
    assert.deepEqual(
      tokens.map((t) => [t.name, t.role, t.created === null]),
      [
        ["legacy", "read-only", true],
        ["dash", "read-only", false],
      ],
    );
    const text = await cli("token", "list", "--tokens-file", file);
    assert.match(
      text.stdout,
      /^NAME +ROLE +CREATED\nlegacy +read-only +-\ndash +read-only +\d{4}-/,
    );
    assert.ok(!text.stdout.includes("sha256"), "no hashes in the listing");

    const revoked = await cli("token", "revoke", "legacy", "--tokens-file", file);
    assert.match(revoked.stdout, /^revoked legacy/);
    assert.deepEqual(
      listTokens(file).map((t) => t.name),
      ["dash"],
    );
    assert.match(readFileSync(file, "utf8"), /^# ours\n/);
    await assert.rejects(
      cli("token", "revoke", "legacy", "--tokens-file", file),
      /no token named legacy/,
    );
  });

  it("edits refuse a file they cannot parse, naming file:line, and leave it as it was", () => {
    const file = join(tempDir(), "tokens");
    const broken = `# fine\nsha256:${hashToken("a")} operator a\nsha256:abc operator b\n`;
    writeFileSync(file, broken);
    assert.throws(
      () => createToken(file, "c", "read-only"),
      (err: unknown) =>
        err instanceof TokensFileError && err.message.startsWith(`${file}:3: the first field`),
    );
    assert.equal(readFileSync(file, "utf8"), broken);
  });

  it("resolves the file: --tokens-file as given, else tokens in --data-dir or AVIARY_DATA_DIR", () => {
    assert.equal(tokensFilePath({ tokensFile: "/x/t" }), "/x/t");
    assert.equal(tokensFilePath({ dataDir: "/d" }), "/d/tokens");
    assert.equal(tokensFilePath({}, { AVIARY_DATA_DIR: "/env" }), "/env/tokens");
  });
});

describe("the server and the tokens file", () => {
  let api: TestAdmin;
  let clock: ManualClock;
  let logged: string[];
  const services = {
    services: [
      {
        name: "shop",
        match: { pathPrefix: "/" },
        stable: { version: "v1", targets: ["http://127.0.0.1:9"] },
      },
    ],
  };

  before(async () => {
    clock = new ManualClock();
    logged = [];
    const log = pino({ level: "info" }, { write: (line: string) => void logged.push(line) });
    api = await startAdmin({ spec: services, clock, log });
  });
  after(async () => {
    await api.close();
  });

  const status = async (method: string, token: string) =>
    (
      await api.call(method, method === "GET" ? "/api/v1/services" : "/api/v1/services/shop/undo", {
        token,
        ...(method === "GET" ? {} : { body: {} }),
      })
    ).status;

  it("picks up a created token without a restart, within a second, and drops a revoked one", async () => {
    const file = api.aviary.tokensFile;
    const { token } = createToken(file, "alice", "read-only");
    clock.advance(1_000);
    assert.equal(await status("GET", token), 200, "a new read-only token reads");
    assert.equal(await status("POST", token), 403, "and may not change anything");

    const { token: bob } = createToken(file, "bob", "operator");
    clock.advance(1_000);
    // undo with nothing to undo is a 409: the token got past authorization.
    assert.equal(await status("POST", bob), 409);

    revokeToken(file, "alice");
    clock.advance(1_000);
    assert.equal(await status("GET", token), 401, "a revoked token is refused");
    assert.equal(await status("GET", bob), 200, "the others keep working");
    assert.equal(await status("GET", api.operatorToken), 200);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(
      logged.every((l) => !l.includes(token) && !l.includes(bob) && !l.includes(api.operatorToken)),
      "no token in any log line",
    );
  });

  it("keeps the previous tokens when an edit does not parse, and logs file:line", async () => {
    const file = api.aviary.tokensFile;
    const { token } = createToken(file, "carol", "read-only");
    clock.advance(1_000);
    assert.equal(await status("GET", token), 200);

    const good = readFileSync(file, "utf8");
    const tmp = `${file}.edit`;
    writeFileSync(tmp, `${good}sha256:0123 operator half-writ`);
    renameSync(tmp, file);
    const lines = good.split("\n").length;
    clock.advance(1_000);
    assert.equal(await status("GET", token), 200, "carol still gets in");
    assert.ok(
      logged.some((l) => l.includes(`${file}:${lines}: the first field`)),
      `the log names ${file}:${lines}`,
    );

    writeFileSync(tmp, good.replace(/^.* carol .*$/m, ""));
    renameSync(tmp, file);
    clock.advance(1_000);
    assert.equal(await status("GET", token), 401, "a fixed file applies");
  });

  it("sees the file go away as every file token revoked; the operator token stays", async () => {
    const file = api.aviary.tokensFile;
    const { token } = createToken(file, "dave", "operator");
    clock.advance(1_000);
    assert.equal(await status("GET", token), 200);
    renameSync(file, `${file}.gone`);
    clock.advance(1_000);
    assert.equal(await status("GET", token), 401);
    assert.equal(await status("GET", api.operatorToken), 200);
    renameSync(`${file}.gone`, file);
    clock.advance(1_000);
    assert.equal(await status("GET", token), 200);
  });
});

describe("a broken tokens file at startup", () => {
  const opened: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of opened.splice(0)) await close();
  });

  it("stops the start with file:line, before anything listens", async () => {
    const dataDir = join(tempDir(), "data");
    mkdirSync(dataDir);
    const file = join(dataDir, "tokens");
    writeFileSync(
      file,
      `# comment\n\nsha256:${hashToken("x")} operator ok\nsha256:${hashToken("y")} superuser nope\n`,
    );
    const spec = Spec.parse({ listen: "127.0.0.1:0", admin: "127.0.0.1:0" });
    await assert.rejects(
      startAviary({ spec, log: silentLogger(), dataDir }).then((a) => {
        opened.push(a.close);
      }),
      (err: unknown) =>
        err instanceof TokensFileError &&
        err.message ===
          `${file}:4: role must be read-only, operator, router or client, got 'superuser'`,
    );
  });

  it("reads auth.tokensFile relative to the data directory", async () => {
    const dataDir = join(tempDir(), "data");
    mkdirSync(join(dataDir, "auth"), { recursive: true });
    const { token } = createToken(join(dataDir, "auth", "api-tokens"), "eve", "read-only");
    const api = await startAdmin({ dataDir, spec: { auth: { tokensFile: "auth/api-tokens" } } });
    opened.push(api.close);
    assert.equal(api.aviary.tokensFile, join(dataDir, "auth", "api-tokens"));
    assert.equal((await api.call("GET", "/api/v1/services", { token })).status, 200);
  });
});
