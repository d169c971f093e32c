/**
 * Kill-and-resume: `aviary serve` runs a rollout and is SIGKILLed at every commit point — just
 * before each transition commits and just after (before its effect reaches the router) —
 * then restarted on the same data directory. Every run must end promoted with the same
 * history as an uninterrupted run: no step lost, none repeated.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { startUpstream, type Upstream, watchServeLog } from "./fixtures.js";

const BIN = join(import.meta.dirname, "..", "dist", "cli", "main.js");

interface Run {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  admin: Promise<string>;
}

function serve(spec: string, dataDir: string, env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [BIN, "serve", "-c", spec, "--data-dir", dataDir], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...env, AVIARY_LOG_LEVEL: "info" },
  });
  watchServeLog(child); // fails the file if an error escaped every handler
  let log = "";
  const admin = new Promise<string>((resolve) => {
    child.stderr?.on("data", (c: Buffer) => {
      log += c.toString();
      const m = /"admin":"(127\.0\.0\.1:\d+)"/.exec(log);
      if (m) resolve(`http://${m[1]}`);
    });
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, exit, admin };
}

interface Event {
  type: string;
  stepIndex: number | null;
  weight: number | null;
}

async function waitForHealthy(admin: string, token: string): Promise<Event[]> {
  for (let i = 0; i < 300; i++) {
    const res = await request(`${admin}/api/v1/services/shop`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const view = (await res.body.json()) as { rollout: { phase: string } | null };
    if (view.rollout?.phase === "Healthy") {
      const h = await request(`${admin}/api/v1/services/shop/history`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return ((await h.body.json()) as { events: Event[] }).events;
    }
    if (view.rollout?.phase === "Aborted")
      assert.fail(`rollout aborted: ${JSON.stringify(view.rollout)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail("rollout did not finish in 15 s");
}

describe("crash and resume", () => {
  let stable: Upstream;
  let canary: Upstream;
  let specFile: string;
  const token = "crash-test-token";
  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run \`npm run build\` first (npm test does)`);
    stable = await startUpstream("stable");
    canary = await startUpstream("canary");
    specFile = join(mkdtempSync(join(tmpdir(), "aviary-crash-")), "aviary.yaml");
    // The canary is in the spec, so the rollout starts as the server starts.
    writeFileSync(
      specFile,
      `listen: 127.0.0.1:0
admin: 127.0.0.1:0
controller: { tick: 50ms }
services:
  - name: shop
    match: { pathPrefix: / }
    stable: { version: v1, targets: [${stable.url}] }
    canary: { version: v2, targets: [${canary.url}] }
    strategy:
      steps:
        - setWeight: 5
        - pause: { duration: 150ms }
        - setWeight: 25
        - setHeaderRoute: { name: beta, match: { headers: { user-type: { exact: beta } } } }
        - pause: { duration: 150ms }
        - setWeight: 50
`,
    );
  });
  after(async () => {
    await stable.close();
    await canary.close();
  });

  const shape = (events: Event[]) =>
    events.map((e) => `${e.type}:${e.stepIndex ?? "-"}:${e.weight ?? "-"}`);

  it("ends promoted with the same history wherever the process is killed", async () => {
    const env = { AVIARY_TOKEN: token };
    const clean = serve(specFile, mkdtempSync(join(tmpdir(), "aviary-data-")), env);
    const reference = shape(await waitForHealthy(await clean.admin, token));
    clean.child.kill("SIGTERM");
    await clean.exit;
    assert.ok(reference.length >= 10, reference.join("\n"));
    assert.equal(reference.at(-1)?.split(":")[0], "promoted");

    const crashes = ["AVIARY_FAULT_CRASH_BEFORE_COMMITS", "AVIARY_FAULT_CRASH_AFTER_COMMITS"]
      .flatMap((variable) => reference.map((_, i) => ({ variable, n: i + 1 })))
      .values();
    const crashAndResume = async ({ variable, n }: { variable: string; n: number }) => {
      const dataDir = mkdtempSync(join(tmpdir(), "aviary-data-"));
      const crashing = serve(specFile, dataDir, { ...env, [variable]: String(n) });
      const { signal } = await crashing.exit;
      assert.equal(signal, "SIGKILL", `${variable}=${n}: the fault did not fire`);
      const resumed = serve(specFile, dataDir, env);
      try {
        const history = shape(await waitForHealthy(await resumed.admin, token));
        assert.deepEqual(history, reference, `${variable}=${n}: history differs after resume`);
      } finally {
        resumed.child.kill("SIGTERM");
        await resumed.exit;
      }
    };
    // Two crashes at a time, each with its own data directory and ports: most of each is
    // waiting on the rollout's 50 ms ticks, and one at a time took over two minutes.
    const worker = async () => {
      for (const crash of crashes) await crashAndResume(crash);
    };
    await Promise.all([worker(), worker()]);
  });
  it("a restart keeps what operators did since the file was applied, and applies a file edited while stopped", async () => {
    const env = { AVIARY_TOKEN: token };
    const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const dataDir = mkdtempSync(join(tmpdir(), "aviary-data-"));
    const view = async (admin: string) => {
      const res = await request(`${admin}/api/v1/services/shop`, { headers: auth });
      return (await res.body.json()) as {
        traffic: { stable: { version: string } };
        rollout: { id: string; canary: { version: string } };
      };
    };
    const first = serve(specFile, dataDir, env);
    let admin = await first.admin;
    await waitForHealthy(admin, token); // the spec's v2, promoted
    // An operator rolls out v3 over it; the spec file still names v2 as its canary.
    const deployed = await request(`${admin}/api/v1/services/shop/deploy`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ version: "v3", targets: [canary.url] }),
    });
    assert.equal(deployed.statusCode, 201, await deployed.body.text());
    for (let i = 0; i < 300 && (await view(admin)).traffic.stable.version !== "v3"; i++)
      await new Promise((r) => setTimeout(r, 50));
    const promoted = await view(admin);
    assert.equal(promoted.traffic.stable.version, "v3");
    first.child.kill("SIGTERM");
    await first.exit;

    // The same file again: nothing changes (v2 is not rolled out over v3 again).
    const second = serve(specFile, dataDir, env);
    admin = await second.admin;
    await new Promise((r) => setTimeout(r, 500)); // several ticks of 50 ms
    const after = await view(admin);
    assert.equal(after.rollout.id, promoted.rollout.id, "no rollout started at restart");
    assert.equal(after.traffic.stable.version, "v3");
    second.child.kill("SIGTERM");
    await second.exit;

    // A file edited while Aviary was stopped takes effect at the next start, as with a SIGHUP.
    const edited = join(mkdtempSync(join(tmpdir(), "aviary-crash-")), "aviary.yaml");
    writeFileSync(edited, readFileSync(specFile, "utf8").replace("version: v2", "version: v4"));
    const third = serve(edited, dataDir, env);
    admin = await third.admin;
    try {
      for (let i = 0; i < 300 && (await view(admin)).rollout.canary.version !== "v4"; i++)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal((await view(admin)).rollout.canary.version, "v4");
    } finally {
      third.child.kill("SIGTERM");
      await third.exit;
    }
  });
});
