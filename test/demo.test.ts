/**
 * `aviary demo` end to end, as a newcomer runs it: the built CLI, real ports, real traffic.
 * The `--exit` run is the whole story (about a minute and a half); the Ctrl-C run checks that
 * stopping mid-story leaves nothing behind.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { request } from "undici";
import { assertStoryTold, runDemo as run, waitFor } from "./demo-run.js";
import { AVIARY_BIN } from "./fixtures.js";

// Side by side: the story is a minute and a half of its own pauses; each case has its own
// ports and directory.
describe("aviary demo", { concurrency: 3 }, () => {
  it("--exit tells the whole story: v2 rolled back by the analysis, v3 promoted, then exits 0", async () => {
    assert.ok(existsSync(AVIARY_BIN), "run `npm run build` first (npm test does)");
    const tmp = mkdtempSync(join(tmpdir(), "aviary-demo-test-"));
    const demo = run(["--exit", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"], tmp);
    const [, dashboard, token] = await waitFor(
      demo.output,
      /dashboard\s+(http:\/\/\S+)\s+token\s+(\S+)/,
      demo.child,
      30_000,
    );
    // The printed token works against the printed admin address.
    const api = `${new URL(dashboard as string).origin}/api/v1/services/shop`;
    const res = await request(api, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 200);
    await res.body.dump();

    const code = await demo.exited;
    const out = demo.output();
    assert.equal(code, 0, out);
    assertStoryTold(out);
    assert.deepEqual(readdirSync(tmp), [], "the demo's data directory is removed");
    // Nothing listens any more where the demo was.
    await assert.rejects(request(api), /ECONNREFUSED/);
  });

  it("stops cleanly on Ctrl-C in the middle of the story", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "aviary-demo-test-"));
    const demo = run(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"], tmp);
    const [, router] = await waitFor(
      demo.output,
      /router\s+(http:\/\/\S+)\/shop\//,
      demo.child,
      30_000,
    );
    await waitFor(demo.output, /v2 deployed/, demo.child, 30_000);
    demo.child.kill("SIGINT");
    assert.equal(await demo.exited, 0, demo.output());
    assert.deepEqual(readdirSync(tmp), []);
    await assert.rejects(request(`${router}/shop/`), /ECONNREFUSED/);
  });

  it("refuses a bad --rate as a usage error", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "aviary-demo-test-"));
    const demo = run(["--rate", "lots"], tmp);
    assert.equal(await demo.exited, 2);
    assert.match(demo.output(), /--rate must be a number/);
  });
});
