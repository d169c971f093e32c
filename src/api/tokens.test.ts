import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ManualClock } from "../util/clock.js";
import { silentLogger } from "../util/log.js";
import { TokenRegistry } from "./tokens.js";
import { hashToken } from "./tokens-file.js";

const dir = mkdtempSync(join(tmpdir(), "aviary-tokens-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("the token registry's run tokens", () => {
  it("accepts a run token with its identity beside the file's, and never writes it there", () => {
    const file = join(dir, "tokens");
    const text = `sha256:${hashToken("from-file")} read-only dash\n`;
    writeFileSync(file, text, { mode: 0o600 });
    const registry = new TokenRegistry({
      operatorToken: "operator",
      file,
      clock: new ManualClock(0),
      log: silentLogger(),
      runTokens: [{ token: "run-token", identity: { name: "workers", role: "router" } }],
    });
    assert.deepEqual(registry.identify("run-token"), { name: "workers", role: "router" });
    assert.deepEqual(registry.identify("from-file"), { name: "dash", role: "read-only" });
    assert.equal(registry.identify("another"), undefined);
    assert.equal(registry.fileTokens, 1);
    assert.equal(readFileSync(file, "utf8"), text);
  });

  it("knows no run token unless given one", () => {
    const registry = new TokenRegistry({
      operatorToken: "operator",
      file: join(dir, "none"),
      clock: new ManualClock(0),
      log: silentLogger(),
    });
    assert.equal(registry.identify("run-token"), undefined);
  });
});
