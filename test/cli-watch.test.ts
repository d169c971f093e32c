/**
 * `aviary get web --watch` in a real terminal: tmux runs the compiled CLI in a 120×40 pane
 * against `aviary serve`, the rollout is driven through the CLI, and the test reads the screen
 * as a person would (`tmux capture-pane`), polling until it shows what it should.
 */

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { request } from "undici";
import { AVIARY_BIN, deadPort, spawnServe, startUpstream, type Upstream } from "./fixtures.js";

const SOCKET = `aviary-watch-test-${process.pid}`;
const TOKEN = "watch-test-token-0123456789";

function tmux(...args: string[]) {
  return spawnSync("tmux", ["-L", SOCKET, "-f", "/dev/null", ...args], {
    encoding: "utf8",
    timeout: 10_000,
  });
}

function screen(): string {
  return tmux("capture-pane", "-p", "-t", "watch").stdout ?? "";
}

/** Polls the screen until `check` passes; fails with the screen as it was last seen. */
async function until(what: string, check: (screen: string) => boolean, timeoutMs = 15_000) {
  let last = "";
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    last = screen();
    if (check(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}; the screen:\n${last}`);
}

describe("aviary get --watch in a terminal", () => {
  let dir: string;
  let stable: Upstream;
  let canary: Upstream;
  let specFile: string;
  let dataDir: string;
  let server: ChildProcess | undefined;
  let url: string;
  let admin: string;
  let socketPath = "";

  const cli = (...args: string[]) => {
    const out = spawnSync(process.execPath, [AVIARY_BIN, ...args], {
      encoding: "utf8",
      timeout: 30_000,
      env: {
        ...process.env,
        AVIARY_SERVER: admin,
        AVIARY_TOKEN: TOKEN,
        XDG_CONFIG_HOME: dir,
      },
    });
    assert.equal(out.status, 0, `aviary ${args.join(" ")}: ${out.stderr}`);
    return out.stdout;
  };

  before(async () => {
    const version = spawnSync("tmux", ["-V"], { encoding: "utf8" });
    assert.ok(
      version.status === 0,
      "tmux is missing: this test drives the watch in a real terminal. Install it with `apt-get install tmux` (or `sudo bash scripts/install-system-deps.sh`).",
    );
    assert.ok(existsSync(AVIARY_BIN), `${AVIARY_BIN} is missing: run \`npm run build\` first`);
    dir = mkdtempSync(join(tmpdir(), "aviary-watch-"));
    dataDir = join(dir, "data");
    stable = await startUpstream("v1");
    canary = await startUpstream("v2");
    // A fixed admin port, so the watch finds the server again after a restart.
    admin = (await deadPort()).replace("http://", "");
    specFile = join(dir, "aviary.yaml");
    writeFileSync(
      specFile,
      `listen: 127.0.0.1:0
admin: ${admin}
services:
  - name: web
    match: { pathPrefix: / }
    stable: { version: v1, targets: [${stable.url}] }
    strategy:
      steps:
        - setWeight: 20
        - pause: { duration: 30s }
        - setWeight: 50
        - pause: {}
`,
    );
    ({ child: server, url, admin } = await spawnServe(specFile, dataDir, { AVIARY_TOKEN: TOKEN }));
    const script = join(dir, "watch.sh");
    writeFileSync(
      script,
      [
        `export AVIARY_SERVER='${admin}' AVIARY_TOKEN='${TOKEN}' XDG_CONFIG_HOME='${dir}'`,
        "unset NO_COLOR",
        `'${process.execPath}' '${AVIARY_BIN}' get web --watch`,
        'echo "aviary exited $?"',
        "sleep 600",
      ].join("\n"),
    );
    const started = tmux(
      "new-session",
      "-d",
      "-s",
      "watch",
      "-x",
      "120",
      "-y",
      "40",
      `sh '${script}'`,
    );
    assert.equal(started.status, 0, `tmux new-session: ${started.stderr}`);
    socketPath = tmux("display", "-p", "#{socket_path}").stdout.trim();
  });

  after(async () => {
    tmux("kill-server");
    if (socketPath) rmSync(socketPath, { force: true });
    if (server !== undefined && server.exitCode === null) {
      server.kill("SIGTERM");
      await new Promise((r) => server?.once("exit", r));
    }
    await Promise.all([stable?.close(), canary?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("draws the rollout live: phase, steps, weight, countdown, metrics; follows promote and abort; survives a restart; gives the terminal back on Ctrl-C", async () => {
    await until("the view of a service without a rollout", (s) =>
      /^web {2}no rollout {2}stable v1 · no canary/m.test(s),
    );
    assert.equal(tmux("display", "-p", "-t", "watch", "#{cursor_flag}").stdout.trim(), "0");

    cli("deploy", "web", "--version", "v2", "--target", canary.url);
    const paused = await until(
      "step 2, the timed pause, at 20 %",
      (s) =>
        /^web {2}Paused {2}stable v1 · canary v2/m.test(s) &&
        /^ {2}▶ {2}2 pause 30s — \d+s left$/m.test(s) &&
        /^ {2}✓ {2}1 setWeight 20%$/m.test(s) &&
        /^weight {2}\[█{4}░{16}\] 20%$/m.test(s),
    );
    assert.match(paused, /^ {2}step 2\/4: pausing for 30s$/m);
    const left = (s: string) => Number(/pause 30s — (\d+)s left/.exec(s)?.[1]);
    const first = left(paused);
    assert.ok(first <= 30 && first >= 20, `${first}s left`);
    await until("the countdown to move", (s) => left(s) < first);

    const sent = 100;
    for (let i = 0; i < sent; i++) {
      const res = await request(`${url}/page/${i}`);
      await res.body.dump();
    }
    const counted = await until("the metrics to count the requests", (s) => {
      const m = /^ {2}requests +(\d+) +(\d+)$/m.exec(s);
      return m !== null && Number(m[1]) + Number(m[2]) === sent;
    });
    assert.match(counted, /^metrics, last 1m +stable v1 +canary v2$/m);
    assert.match(counted, /^ {2}error rate +0\.00% +0\.00%$/m);
    assert.match(counted, /^ {2}p99 +[\d.]+ ms +[\d.]+ ms$/m);
    const [, onStable, onCanary] = /^ {2}requests +(\d+) +(\d+)$/m.exec(counted) ?? [];
    assert.ok(Number(onCanary) > 0 && Number(onStable) > Number(onCanary), counted);

    cli("promote", "web");
    await until(
      "the manual pause at 50 %, naming the command that goes on",
      (s) =>
        /^ {2}▶ {2}4 pause \(until promoted\) — waiting for promote$/m.test(s) &&
        /^weight {2}\[█{10}░{10}\] 50%$/m.test(s) &&
        /^next {2}waiting for a person: aviary promote web goes on · aviary abort web rolls back$/m.test(
          s,
        ),
    );

    cli("abort", "web", "--reason", "seen enough");
    await until(
      "the abort: weight 0, the step crossed, retry named",
      (s) =>
        /^web {2}Aborted {2}stable v1 · no canary/m.test(s) &&
        /^ {2}aborted by operator:\S+: seen enough$/m.test(s) &&
        /^ {2}✗ {2}4 pause \(until promoted\)$/m.test(s) &&
        /^weight {2}\[░{20}\] 0%$/m.test(s) &&
        /^next {2}aviary retry web starts v2 again from step 1$/m.test(s) &&
        !s.includes("▶"),
    );

    server?.kill("SIGTERM");
    await new Promise((r) => server?.once("exit", r));
    await until("the lost connection", (s) =>
      /^connection lost, retrying… \(\d+(ms|s); cannot reach http:\/\/127\.0\.0\.1:\d+: /m.test(s),
    );
    assert.match(screen(), /^web {2}Aborted/m, "the last view stays");
    ({ child: server } = await spawnServe(specFile, dataDir, { AVIARY_TOKEN: TOKEN }));
    await until(
      "the view to come back",
      (s) => !s.includes("connection lost") && /^web {2}Aborted/m.test(s),
    );

    tmux("send-keys", "-t", "watch", "C-c");
    const done = await until("the watch to exit", (s) => /^aviary exited \d+$/m.test(s));
    assert.match(done, /^aviary exited 130$/m);
    assert.equal(
      tmux("display", "-p", "-t", "watch", "#{cursor_flag} #{alternate_on}").stdout.trim(),
      "1 0",
      "cursor shown again, alternate screen left",
    );
    assert.match(done, /^web {2}Aborted {2}stable v1 · no canary/m, "the last frame stays");
  });
});
