/**
 * Real HAProxy and nginx send their access log to UDP sockets this test listens on: a plain
 * socket that captures the raw datagrams (to check the parsers against what the engines really
 * send, in each syslog format) and the log listener itself (to check the counts that reach a
 * real MetricsRegistry). No mocks: the binaries must be installed.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { MetricsRegistry } from "../../../dataplane/metrics/registry.js";
import { ManualClock } from "../../../util/clock.js";
import { silentLogger } from "../../../util/log.js";
import { parseLine } from "./line.js";
import { type LogListener, startLogListener } from "./listener.js";
import { parseSyslog } from "./syslog.js";

const T0 = Date.UTC(2026, 0, 1);

/** The binary on PATH (or the sbin twin of a PATH entry, where Debian puts daemons), else a failure. */
function binary(name: string, install: string): string {
  const dirs = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  for (const dir of [...dirs, ...dirs.map((d) => d.replace(/bin$/, "sbin"))]) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new Error(`${name} is not installed; install it with: ${install}`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(what: string, done: () => boolean | Promise<boolean>, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts a foreground engine; its stderr is kept for the failure message. */
function run(bin: string, args: string[]): { child: ChildProcess; stderr: () => string } {
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  return { child, stderr: () => stderr };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

async function answers(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  await until(`${url} to answer`, async () => {
    if (child.exitCode !== null) throw new Error(`engine exited: ${stderr()}`);
    try {
      await (await fetch(url)).arrayBuffer();
      return true;
    } catch {
      return false;
    }
  });
}

describe("access logs sent by real engines", () => {
  let dir: string;
  let raw: Socket;
  const frames: Buffer[] = [];
  let rawPort: number;
  let listener: LogListener;
  let clock: ManualClock;
  let metrics: MetricsRegistry;
  let haproxy: ChildProcess | undefined;
  let nginx: ChildProcess | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "aviary-logs-"));
    raw = createSocket("udp4");
    raw.on("message", (m) => frames.push(m));
    await new Promise<void>((resolve) => raw.bind(0, "127.0.0.1", resolve));
    rawPort = raw.address().port;
    clock = new ManualClock(T0);
    metrics = new MetricsRegistry({ clock, windowMs: 60_000 });
    const stable = metrics.recorder("checkout", "v1", "stable");
    const canary = metrics.recorder("checkout", "v2", "canary");
    listener = await startLogListener({
      listen: "udp://127.0.0.1:0",
      resolve: (svc, ver, role) =>
        svc !== "checkout"
          ? undefined
          : ver === "v1" && role === "stable"
            ? stable
            : ver === "v2" && role === "canary"
              ? canary
              : undefined,
      log: silentLogger(),
      clock,
      prometheus: metrics.prometheus,
    });
  });

  after(async () => {
    await Promise.all([stop(haproxy), stop(nginx)]);
    await listener?.close();
    raw?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("HAProxy 2.6: rfc3164 and rfc5424 frames parse, and its lines reach the canary's window", async () => {
    const bin = binary("haproxy", "apt-get install -y haproxy");
    const [okPort, downPort, deadPort] = [await freePort(), await freePort(), await freePort()];
    const to = (port: number) => `127.0.0.1:${port}`;
    const config = `global
  log ${to(rawPort)} local0
  log ${to(rawPort)} format rfc5424 local1
  log ${to(listener.address.port)} local2
defaults
  mode http
  log global
  timeout client 5s
  timeout server 5s
  timeout connect 500ms
  retries 0
frontend ok
  bind ${to(okPort)}
  log-format "aviary1 svc=checkout ver=v2 role=canary st=%ST ms=%Ta"
  http-request return status 200 content-type text/plain string ok
frontend down
  bind ${to(downPort)}
  log-format "aviary1 svc=checkout ver=v2 role=canary st=%ST ms=%Ta fail=connect"
  default_backend dead
backend dead
  server s1 ${to(deadPort)}
`;
    await writeFile(join(dir, "haproxy.cfg"), config);
    const { child, stderr } = run(bin, ["-db", "-f", join(dir, "haproxy.cfg")]);
    haproxy = child;
    await answers(`http://${to(okPort)}/`, child, stderr);
    for (let i = 0; i < 2; i++) assert.equal((await fetch(`http://${to(okPort)}/`)).status, 200);
    assert.equal((await fetch(`http://${to(downPort)}/`)).status, 503);

    // 4 requests (the readiness probe included), each logged in both formats.
    await until("HAProxy's datagrams", () => frames.length >= 8 && listener.stats().recorded >= 4);
    const formats = { rfc3164: 0, rfc5424: 0 };
    for (const frame of frames.splice(0)) {
      const text = frame.toString("latin1");
      const s = parseSyslog(frame);
      assert.ok(s.ok, `HAProxy sent ${JSON.stringify(text)}: ${s.ok ? "" : s.reason}`);
      formats[s.format]++;
      if (s.format === "rfc3164")
        assert.match(text, /^<\d+>[A-Z][a-z]{2} [ \d]\d [\d:]{8} haproxy\[\d+\]: aviary1 /);
      else assert.match(text, /^<\d+>1 \S+ \S+ haproxy \d+ - - aviary1 /);
      assert.ok(text.endsWith("\n"), "HAProxy ends each message with a newline");
      const line = parseLine(s.body);
      assert.ok(line.ok, `HAProxy's line ${JSON.stringify(s.body)}: ${line.ok ? "" : line.reason}`);
      assert.equal(line.entry.version, "v2");
    }
    assert.deepEqual(formats, { rfc3164: 4, rfc5424: 4 });

    assert.deepEqual(listener.stats(), { recorded: 4, malformed: 0, foreign: 0, oversized: 0 });
    clock.advance(1000);
    const w = metrics.query({ service: "checkout", version: "v2", from: T0, to: T0 + 1000 });
    assert.equal(w.requests, 4);
    assert.equal(w.responses["2xx"], 3);
    assert.deepEqual(w.failures, { connect: 1, timeout: 0, reset: 0 });
  });

  it("nginx 1.22: frames with and without the host name parse, and its lines reach the stable's window", async () => {
    const bin = binary("nginx", "apt-get install -y nginx libnginx-mod-http-lua");
    const [port, deadPort] = [await freePort(), await freePort()];
    const syslog = (p: number, extra = "") => `syslog:server=127.0.0.1:${p}${extra}`;
    const logs = (format: string) =>
      [
        `access_log ${syslog(rawPort)} ${format};`,
        `access_log ${syslog(rawPort, ",nohostname,tag=aviary")} ${format};`,
        `access_log ${syslog(listener.address.port)} ${format};`,
      ].join("\n      ");
    const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
      .map((t) => `${t}_temp_path ${join(dir, `${t}-temp`)};`)
      .join("\n  ");
    const config = `daemon off;
master_process off;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "nginx-error.log")};
events { worker_connections 64; }
http {
  ${temp}
  log_format aviary 'aviary1 svc=checkout ver=v1 role=stable st=$status sec=$request_time';
  log_format aviary_fail 'aviary1 svc=checkout ver=v1 role=stable st=$status sec=$request_time fail=connect';
  server {
    listen 127.0.0.1:${port};
    location / {
      ${logs("aviary")}
      return 200 "ok";
    }
    location /down {
      ${logs("aviary_fail")}
      proxy_connect_timeout 500ms;
      proxy_pass http://127.0.0.1:${deadPort};
    }
  }
}
`;
    await writeFile(join(dir, "nginx.conf"), config);
    const { child, stderr } = run(bin, [
      "-p",
      dir,
      "-c",
      join(dir, "nginx.conf"),
      "-e",
      join(dir, "nginx-error.log"),
    ]);
    nginx = child;
    const before = listener.stats().recorded;
    await answers(`http://127.0.0.1:${port}/`, child, stderr);
    for (let i = 0; i < 2; i++)
      assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${port}/down`)).status, 502);

    await until(
      "nginx's datagrams",
      () => frames.length >= 8 && listener.stats().recorded >= before + 4,
    );
    const hosts = { named: 0, none: 0 };
    for (const frame of frames.splice(0)) {
      const text = frame.toString("latin1");
      const s = parseSyslog(frame);
      assert.ok(s.ok, `nginx sent ${JSON.stringify(text)}: ${s.ok ? "" : s.reason}`);
      assert.equal(s.format, "rfc3164");
      if (/^<\d+>[A-Z][a-z]{2} [ \d]\d [\d:]{8} aviary: /.test(text)) hosts.none++;
      else if (/^<\d+>[A-Z][a-z]{2} [ \d]\d [\d:]{8} \S+ nginx: /.test(text)) hosts.named++;
      else assert.fail(`unexpected nginx frame ${JSON.stringify(text)}`);
      const line = parseLine(s.body);
      assert.ok(line.ok, `nginx's line ${JSON.stringify(s.body)}: ${line.ok ? "" : line.reason}`);
      assert.equal(line.entry.version, "v1");
    }
    assert.deepEqual(hosts, { named: 4, none: 4 });

    assert.equal(listener.stats().recorded, before + 4);
    clock.advance(1000);
    const now = clock.now();
    const w = metrics.query({ service: "checkout", version: "v1", from: now - 2000, to: now });
    assert.equal(w.requests, 4);
    assert.equal(w.responses["2xx"], 3);
    assert.deepEqual(w.failures, { connect: 1, timeout: 0, reset: 0 });
  });
});
