/**
 * `aviary demo --flags` end to end, as a newcomer runs it: the built CLI, real ports, the shop
 * evaluating `new-checkout` through the published OpenFeature server SDK with `AviaryProvider`,
 * real traffic. The analysis must switch the flag off on its own while the shop's deployment
 * stays where it was, and the demo must exit 0 only then.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { request } from "undici";
import { runDemo, waitFor } from "./demo-run.js";
import { AVIARY_BIN } from "./fixtures.js";

describe("aviary demo --flags", () => {
  it("--exit: the analysis switches new-checkout off, the shop stays on v1, exit 0", async () => {
    assert.ok(existsSync(AVIARY_BIN), "run `npm run build` first (npm test does)");
    const tmp = mkdtempSync(join(tmpdir(), "aviary-demo-flags-test-"));
    const demo = runDemo(
      ["--flags", "--exit", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
      tmp,
    );
    const [, dashboard, token] = await waitFor(
      demo.output,
      /dashboard\s+(http:\/\/\S+)\s+token\s+(\S+)/,
      demo.child,
      30_000,
    );
    // The subject the narration tells newcomers to look at exists, with the printed token.
    const api = `${new URL(dashboard as string).origin}/api/v1/services/flag:new-checkout`;
    const res = await request(api, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 200);
    await res.body.dump();

    const code = await demo.exited;
    const out = demo.output();
    assert.equal(code, 0, out);
    assert.match(out, /aviary get flag:new-checkout/);
    assert.match(out, /aviary history flag:new-checkout/);
    assert.match(out, /new-checkout: "on" for 10% of users, plus the beta testers/);
    assert.match(
      out,
      /✗ the analysis switched new-checkout off for everyone: analysis failed: error-rate: /,
    );
    assert.match(out, /✗ new-checkout switched off by the analysis, on its own/);
    assert.match(out, /users with the new checkout in the last 5 s: 0 /);
    assert.match(out, /✓ the shop stayed on v1 the whole time/);
    assert.match(out, /v1 new checkout\s+[\d,]+ served\s+[\d,]+ failed/);
    assert.match(out, /v1 old checkout\s+[\d,]+ served/);
    // The shop's client key is only in the tokens file, as its hash: never on the screen.
    assert.doesNotMatch(out, /client key|clientKey/i);
    assert.doesNotMatch(out, /could not be read/);
    assert.deepEqual(readdirSync(tmp), [], "the demo's data directory is removed");
    await assert.rejects(request(api), /ECONNREFUSED/);
  });
});
