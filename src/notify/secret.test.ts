import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { AviaryError } from "../errors.js";
import { readSecret } from "./secret.js";

describe("readSecret", () => {
  it("reads an environment variable, trimmed", () => {
    assert.equal(readSecret({ env: "HOOK_KEY" }, { HOOK_KEY: "  s3cr3t\n" }), "s3cr3t");
  });

  it("reads a file, trimmed (files end in a newline)", () => {
    const dir = mkdtempSync(join(tmpdir(), "aviary-secret-"));
    const path = join(dir, "key");
    writeFileSync(path, "from-file\n");
    assert.equal(readSecret({ file: path }, {}), "from-file");
  });

  it("names a missing variable and never a value", () => {
    assert.throws(
      () => readSecret({ env: "SLACK_URL" }, { OTHER: "https://hooks.example/abc" }),
      (err: unknown) =>
        err instanceof AviaryError &&
        err.code === "AVIARY_SECRET_MISSING" &&
        err.message.includes("SLACK_URL") &&
        !err.message.includes("hooks.example"),
    );
  });

  it("refuses an empty variable or file", () => {
    assert.throws(() => readSecret({ env: "E" }, { E: "  \n" }), /environment variable E is empty/);
    assert.throws(
      () => readSecret({ file: "/etc/k" }, {}, () => "\n"),
      /secret file \/etc\/k is empty/,
    );
  });

  it("names an unreadable file with the reason code", () => {
    const missing = join(tmpdir(), "aviary-no-such-dir", "key");
    assert.throws(
      () => readSecret({ file: missing }, {}),
      (err: unknown) =>
        err instanceof AviaryError && err.message === `cannot read secret file ${missing} (ENOENT)`,
    );
  });
});
