/**
 * The verbs that talk to a server, end to end with the compiled CLI against `aviary serve`:
 * machine-readable output, where the server address and token come from, and `--wait`.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { AVIARY_BIN, deadPort, spawnServe, startUpstream, type Upstream } from "./fixtures.js";

const TOKEN = "client-test-token-0123456789";

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe("aviary verbs against a server", () => {
  let dir: string;
  let stable: Upstream;
  let canary: Upstream;
  let server: ChildProcess;
  let admin: string;

  /** An environment with nothing of the caller's: no AVIARY_*, no config file. */
  const cleanEnv = (extra: Record<string, string> = {}) => {
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: join(dir, "xdg") };
    for (const key of Object.keys(env)) if (key.startsWith("AVIARY_")) delete env[key];
    return { ...env, AVIARY_DATA_DIR: join(dir, "no-data-dir"), ...extra };
  };
  const run = (args: string[], env: Record<string, string> = {}): Run => {
    const out = spawnSync(process.execPath, [AVIARY_BIN, ...args], {
      encoding: "utf8",
      timeout: 30_000,
      env: cleanEnv(env),
    });
    return { status: out.status, stdout: out.stdout, stderr: out.stderr };
  };
  /** A verb run with the right server and token in the environment. */
  const cli = (...args: string[]) => run(args, { AVIARY_SERVER: admin, AVIARY_TOKEN: TOKEN });
  const ok = (...args: string[]) => {
    const out = cli(...args);
    assert.equal(out.status, 0, `aviary ${args.join(" ")}: ${out.stderr}`);
    return out.stdout;
  };
  /** Starts a verb in the background; resolves with its outcome once it exits. */
  const background = (args: string[]) => {
    const child = spawn(process.execPath, [AVIARY_BIN, ...args], {
      env: cleanEnv({ AVIARY_SERVER: admin, AVIARY_TOKEN: TOKEN }),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const done = new Promise<Run>((resolve) =>
      child.once("exit", (status) => resolve({ status, stdout, stderr })),
    );
    return { done, output: () => stdout + stderr };
  };

  before(async () => {
    assert.ok(existsSync(AVIARY_BIN), `${AVIARY_BIN} is missing: run \`npm run build\` first`);
    dir = mkdtempSync(join(tmpdir(), "aviary-client-"));
    stable = await startUpstream("v1");
    canary = await startUpstream("v2");
    const specFile = join(dir, "aviary.yaml");
    writeFileSync(
      specFile,
      `listen: 127.0.0.1:0
admin: 127.0.0.1:0
controller: { tick: 50ms }
services:
  - name: web
    match: { pathPrefix: /web }
    stable: { version: v1, targets: [${stable.url}] }
    strategy:
      steps:
        - setWeight: 20
        - pause: { duration: 300ms }
        - setWeight: 50
        - pause: {}
  - name: api
    match: { pathPrefix: /api }
    stable: { version: v1, targets: [${stable.url}] }
    strategy:
      steps:
        - setWeight: 10
        - pause: { duration: 1h }
`,
    );
    ({ child: server, admin } = await spawnServe(specFile, join(dir, "data"), {
      AVIARY_TOKEN: TOKEN,
    }));
  });

  after(async () => {
    server.kill("SIGTERM");
    await Promise.all([stable.close(), canary.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("-o json and -o yaml print the API's document as is", () => {
    const json = JSON.parse(ok("get", "web", "-o", "json")) as { name: string; rollout: null };
    const yaml = parseYaml(ok("get", "web", "-o", "yaml")) as unknown;
    assert.equal(json.name, "web");
    assert.deepEqual(yaml, json);
    const list = parseYaml(ok("get", "-o", "yaml")) as { services: Array<{ name: string }> };
    assert.deepEqual(list.services.map((s) => s.name).sort(), ["api", "web"]);
    const history = parseYaml(ok("history", "web", "-o", "yaml")) as {
      events: Array<{ type: string }>;
    };
    assert.equal(history.events[0]?.type, "service.created");
    const runs = parseYaml(ok("analysis", "web", "-o", "yaml")) as { runs: unknown[] };
    assert.deepEqual(runs, { runs: [] });
  });

  it("an unknown -o is a usage error naming the formats; so are bad numbers and durations", () => {
    const bad = cli("get", "web", "-o", "xml");
    assert.equal(bad.status, 2);
    assert.match(
      bad.stderr,
      /option '-o, --output <format>' argument 'xml' is invalid\. Allowed choices are text, json, yaml\./,
    );
    const limit = cli("history", "web", "--limit", "ten");
    assert.equal(limit.status, 2);
    assert.match(limit.stderr, /--limit <n>' argument 'ten' is invalid\. expected a whole number/);
    const interval = cli("get", "web", "--watch", "--interval", "soon");
    assert.equal(interval.status, 2);
    assert.match(interval.stderr, /expected a duration such as 1s or 500ms/);
    // A longer interval would arm a timer past Node's limit, which fires after 1 ms instead.
    const huge = cli("get", "web", "--watch", "--interval", "30d");
    assert.equal(huge.status, 2);
    assert.match(
      huge.stderr,
      /--interval <duration>' argument '30d' is invalid\. must be at most 1h/,
    );
    const stray = cli("get", "web", "--exit-on-finish");
    assert.equal(stray.status, 2);
    assert.match(stray.stderr, /--exit-on-finish works only with --watch/);
    const noService = cli("get", "--watch");
    assert.equal(noService.status, 2);
    assert.match(noService.stderr, /--watch needs a service/);
    // A value only the server can judge (here the target URL) is a usage error too.
    const target = cli("deploy", "web", "--version", "v9", "--target", "ftp://10.0.0.1:21");
    assert.equal(target.status, 2, target.stderr);
    assert.match(target.stderr, /body\.targets\[0\]: unsupported scheme ftp:/);
  });

  it("takes server and token from flags, then environment, then the config file", async () => {
    const config = join(dir, "config.yaml");
    writeFileSync(config, `server: ${admin}\ntoken: ${TOKEN}\n`, { mode: 0o600 });
    const nowhere = await deadPort();

    const fromFile = run(["get", "web", "--config", config]);
    assert.equal(fromFile.status, 0, fromFile.stderr);
    assert.equal(fromFile.stderr, "", "no warning for a private file");
    assert.equal(run(["get", "web"], { AVIARY_CONFIG: config }).status, 0, "AVIARY_CONFIG");

    const envBeatsFile = run(["get", "web", "--config", config], { AVIARY_SERVER: nowhere });
    assert.equal(envBeatsFile.status, 3);
    assert.match(envBeatsFile.stderr, new RegExp(`cannot reach Aviary at ${nowhere}`));

    const flagBeatsEnv = run(["get", "web", "--config", config, "--server", admin], {
      AVIARY_SERVER: nowhere,
    });
    assert.equal(flagBeatsEnv.status, 0, flagBeatsEnv.stderr);

    const wrongToken = run(["get", "web", "--config", config], { AVIARY_TOKEN: "not-it" });
    assert.equal(wrongToken.status, 1);
    assert.match(wrongToken.stderr, /the token from AVIARY_TOKEN was refused/);
    assert.ok(!wrongToken.stderr.includes("not-it"), "the token itself is never printed");

    // The file's token belongs to the file's server: pointed elsewhere, it is not sent.
    const other = join(dir, "other.yaml");
    writeFileSync(other, `server: ${nowhere}\ntoken: ${TOKEN}\n`, { mode: 0o600 });
    const elsewhere = run(["get", "web", "--config", other, "--server", admin]);
    assert.equal(elsewhere.status, 1);
    assert.match(elsewhere.stderr, /needs .*token/);
  });

  it("refuses a config file with an unknown key or a bad value, naming file and key; warns when it is readable by others", () => {
    const typo = join(dir, "typo.yaml");
    writeFileSync(typo, `server: ${admin}\ntokn: x\n`, { mode: 0o600 });
    const unknown = run(["get", "web", "--config", typo]);
    assert.equal(unknown.status, 2);
    assert.equal(
      unknown.stderr,
      `aviary: ${typo}:2:1: unknown key 'tokn' (allowed: server, token, tokenFile)\n`,
    );
    const badServer = join(dir, "bad-server.yaml");
    writeFileSync(badServer, "server: aviary.internal:9900\n");
    const bad = run(["get", "web"], { AVIARY_CONFIG: badServer });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, new RegExp(`${badServer}:1:9: server: expected an http\\(s\\) URL`));
    const absent = run(["get", "web", "--config", join(dir, "absent.yaml")]);
    assert.equal(absent.status, 2);
    assert.match(absent.stderr, /cannot read the config file .*absent\.yaml \(from --config\)/);

    const shared = join(dir, "shared.yaml");
    writeFileSync(shared, `server: ${admin}\ntoken: ${TOKEN}\n`);
    chmodSync(shared, 0o644);
    const warned = run(["get", "web", "--config", shared]);
    assert.equal(warned.status, 0, warned.stderr);
    assert.equal(
      warned.stderr,
      `aviary: warning: ${shared} holds a token and is readable by others (mode 0644); run: chmod 600 ${shared}\n`,
    );
  });

  it("deploy --wait follows the steps and stops, exit 0, where a person must act; promote --wait ends Healthy", () => {
    const deployed = ok("deploy", "web", "--version", "v2", "--target", canary.url, "--wait");
    const lines = deployed.trim().split("\n");
    assert.match(lines[0] ?? "", /^\d\d:\d\d:\d\d {2}Paused +20% {2}step 2\/4: pausing for 300ms$/);
    assert.ok(
      lines.some((l) =>
        /^\d\d:\d\d:\d\d {2}Paused +50% {2}step 4\/4: waiting at a manual pause/.test(l),
      ),
      deployed,
    );
    assert.equal(
      lines.at(-1),
      "waiting for a person: aviary promote web goes on · aviary abort web rolls back",
    );
    const promoted = ok("promote", "web", "--wait");
    assert.match(promoted, /Healthy +promoted v2: all steps passed/);
    assert.match(promoted, /^done: v2 is stable$/m);
  });

  it("--wait exits 1 with the reason on stderr when the rollout is aborted meanwhile", async () => {
    const waiting = background([
      "deploy",
      "api",
      "--version",
      "v2",
      "--target",
      canary.url,
      "--wait",
      "--interval",
      "100ms",
    ]);
    for (let i = 0; i < 200 && !/pausing for 1h/.test(waiting.output()); i++)
      await new Promise((r) => setTimeout(r, 50));
    ok("abort", "api", "--reason", "bad canary");
    const out = await waiting.done;
    assert.equal(out.status, 1, out.stderr);
    assert.match(out.stdout, /Aborted +aborted by operator:\S+: bad canary/);
    assert.match(
      out.stderr,
      /^aviary: the rollout of v2 was aborted: aborted by operator:\S+: bad canary\n$/,
    );
  });

  it("get --watch --exit-on-finish ends with the rollout: NDJSON with -o json, plain frames without a terminal", () => {
    const healthy = cli("get", "web", "--watch", "--exit-on-finish", "-o", "json");
    assert.equal(healthy.status, 0, healthy.stderr);
    const docs = healthy.stdout.trim().split("\n");
    assert.equal(docs.length, 1, "one document per change, one line each");
    const view = JSON.parse(docs[0] ?? "") as { name: string; rollout: { phase: string } };
    assert.equal(view.rollout.phase, "Healthy");
    assert.deepEqual(view, JSON.parse(ok("get", "web", "-o", "json")), "the API's document");

    const aborted = cli("get", "api", "--watch", "--exit-on-finish", "-o", "yaml");
    assert.equal(aborted.status, 1, "Aborted exits 1");
    assert.equal(
      (parseYaml(aborted.stdout.replace(/^---\n/, "")) as { rollout: { phase: string } }).rollout
        .phase,
      "Aborted",
    );

    const frame = cli("get", "web", "--watch", "--exit-on-finish");
    assert.equal(frame.status, 0, frame.stderr);
    assert.match(frame.stdout, /^web {2}Healthy {2}stable v2 · no canary/);
    assert.match(frame.stdout, /^ {2}✓ {4}promotion$/m);
    assert.ok(!frame.stdout.includes("\x1b"), "no escape sequences when stdout is not a terminal");
  });

  it("--wait --timeout gives up with exit 1; -o json keeps stdout one document with the rollout as it ended", () => {
    const out = cli(
      "retry",
      "api",
      "--wait",
      "--timeout",
      "500ms",
      "--interval",
      "100ms",
      "-o",
      "json",
    );
    assert.equal(out.status, 1);
    const doc = JSON.parse(out.stdout) as { rollout: { phase: string; stepIndex: number } };
    assert.equal(doc.rollout.phase, "Paused");
    assert.equal(doc.rollout.stepIndex, 1);
    assert.match(out.stderr, /Paused +10% {2}step 2\/2: pausing for 1h/, "progress on stderr");
    assert.match(
      out.stderr,
      /gave up waiting after 500ms; the rollout of v2 is still Paused: step 2\/2: pausing for 1h/,
    );
    const stray = cli("abort", "api", "--wait");
    assert.equal(stray.status, 2, "abort has no --wait");
    const noWait = cli("pause", "api", "--timeout", "1s");
    assert.equal(noWait.status, 2);
  });
});
