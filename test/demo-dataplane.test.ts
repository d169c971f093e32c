/**
 * `aviary demo --dataplane haproxy|nginx` end to end: the built CLI starts a real engine from
 * the rendered files, the users' traffic goes through it, Aviary only decides and the analysis
 * judges from the engine's access log. The story must end as with the embedded router, and
 * nothing may be left behind: no engine process, no files.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { request } from "undici";
import { haproxyBinary } from "../src/providers/traffic/haproxy/process.js";
import { nginxBinary, nginxModuleDir } from "../src/providers/traffic/nginx/process.js";
import { assertStoryTold, runDemo, waitFor } from "./demo-run.js";
import { AVIARY_BIN } from "./fixtures.js";

/** Whether a process with this id still exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const ENGINES = [
  { engine: "haproxy", name: "HAProxy", installed: () => haproxyBinary() },
  { engine: "nginx", name: "nginx", installed: () => [nginxBinary(), nginxModuleDir()] },
] as const;

// The two engines' stories run side by side: each is a minute and a half of mostly waiting on
// the demo's pauses, with its own engine, ports and directory.
describe("aviary demo --dataplane", { concurrency: 2 }, () => {
  for (const { engine, name, installed } of ENGINES) {
    it(`${engine}: the engine carries the traffic, v2 is rolled back by the analysis, v3 promoted, nothing is left`, async () => {
      assert.ok(existsSync(AVIARY_BIN), "run `npm run build` first (npm test does)");
      installed(); // throws with the install command
      const tmp = mkdtempSync(join(tmpdir(), "aviary-demo-test-"));
      const demo = runDemo(
        ["--dataplane", engine, "--exit", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        tmp,
      );
      const [, router] = await waitFor(
        demo.output,
        /router\s+(http:\/\/\S+)\/shop\//,
        demo.child,
        30_000,
      );
      const [, pid] = await waitFor(
        demo.output,
        new RegExp(`engine\\s+${name} \\(pid (\\d+)\\) carries the users' traffic`),
        demo.child,
        30_000,
      );
      assert.ok(alive(Number(pid)), `${name} runs while the demo does`);
      // Users' requests are answered through the engine, which passes the version's header on
      // (any status: v1 fails now and then on purpose).
      const res = await request(`${router}/shop/`, { headers: { "x-user-id": "someone" } });
      assert.match(String(res.headers["x-version"]), /^v\d$/);
      await res.body.dump();

      const code = await demo.exited;
      const out = demo.output();
      assert.equal(code, 0, out);
      assert.match(out, new RegExp(`users are sending traffic to v1 \\(stable\\) through ${name}`));
      assert.match(out, new RegExp(`Requests as the users saw them \\(through ${name}\\)`));
      assertStoryTold(out);
      assert.equal(alive(Number(pid)), false, `${name} (pid ${pid}) is stopped at the end`);
      assert.deepEqual(readdirSync(tmp), [], "the demo's data directory is removed");
      await assert.rejects(request(`${router}/shop/`), /ECONNREFUSED/);
    });
  }

  for (const { engine, name } of ENGINES) {
    it(`${engine}: Ctrl-C in the middle of the story stops the engine and leaves nothing`, async () => {
      const tmp = mkdtempSync(join(tmpdir(), "aviary-demo-test-"));
      const demo = runDemo(
        ["--dataplane", engine, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        tmp,
      );
      const [, pid] = await waitFor(
        demo.output,
        new RegExp(`engine\\s+${name} \\(pid (\\d+)\\)`),
        demo.child,
        30_000,
      );
      await waitFor(demo.output, /v2 deployed/, demo.child, 30_000);
      demo.child.kill("SIGINT");
      assert.equal(await demo.exited, 0, demo.output());
      assert.equal(alive(Number(pid)), false, `${name} (pid ${pid}) is stopped`);
      assert.deepEqual(readdirSync(tmp), []);
    });
  }

  it("refuses an unknown --dataplane as a usage error", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "aviary-demo-test-"));
    const demo = runDemo(["--dataplane", "envoy"], tmp);
    assert.equal(await demo.exited, 2);
    assert.match(demo.output(), /Allowed choices are embedded, haproxy, nginx/);
    assert.deepEqual(readdirSync(tmp), []);
  });
});
