/**
 * A whole highly available Aviary on loopback, from real processes, for `test/ha-faults.test.ts`
 * and `bench/failover`: one Postgres (`startPostgres`), N `aviary serve --store postgres://…`
 * instances from the compiled CLI (`dist/cli/main.js`), M `aviary router` processes following
 * them, an HAProxy in front of the routers ({@link startFront}), and one upstream per version.
 * Every process can be SIGKILLed, SIGSTOPped, SIGCONTed and started again; Postgres stopped and
 * started. Ports are fixed at the start, so a restarted instance or router comes back where the
 * others (and HAProxy) expect it.
 *
 * @module
 */

import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type PostgresServer, startPostgres } from "../../src/store/postgres/process.js";
import { freeTcpPort } from "../../src/util/ports.js";
import { type Front, startFront } from "./ha-front.js";
import type { StepInput } from "./ha-history.js";
import { startTestUpstream, type TestUpstream } from "./ha-load.js";
import { ManagedProcess } from "./ha-process.js";

/** The compiled `aviary` command (`npm run build`). */
export const AVIARY_BIN = join(import.meta.dirname, "..", "..", "dist", "cli", "main.js");

export const SERVICE = "shop";

export type { PostgresServer };

/** What `GET /api/v1/cluster` says, reduced to what the faults need. */
export interface ClusterView {
  instance: string;
  role: string;
  leader: string | null;
  epoch: number | null;
  /** Why there is no leader, or why this instance does not lead (when it says). */
  why: string | null;
  raw: Record<string, unknown>;
}

export interface Instance {
  name: string;
  admin: string;
  proc: ManagedProcess;
}

export interface RouterProcess {
  name: string;
  /** `127.0.0.1:PORT` where it serves traffic. */
  address: string;
  statusPort: number;
  proc: ManagedProcess;
}

export interface HaClusterOptions {
  instances?: number;
  routers?: number;
  /** The lease (default 3 s, so that a takeover takes seconds, not the production 10 s). */
  leaseMs?: number;
  /** The controller's tick (default 200 ms). */
  tick?: string;
  /** The first rollout's steps (v1 → v2 starts as the spec is applied). */
  steps: readonly StepInput[];
  /** Extra environment for every `aviary serve` (fault hooks). */
  env?: Record<string, string>;
}

export interface HaCluster {
  pg: PostgresServer;
  instances: Instance[];
  routers: RouterProcess[];
  front: Front;
  token: string;
  leaseMs: number;
  steps: readonly StepInput[];
  /** The upstream of a version (started on first use). */
  upstream(version: string): Promise<TestUpstream>;
  /** Starts (again) instance `i` and waits for its ready line. */
  startInstance(i: number): Promise<void>;
  startRouter(i: number): Promise<void>;
  /** This instance's view of the cluster, or undefined if it does not answer. */
  view(i: number, timeoutMs?: number): Promise<ClusterView | undefined>;
  /**
   * The instance that leads according to the instances that answer (the leader's own word:
   * its role is `leader`), or undefined.
   */
  leader(): Promise<{ index: number; view: ClusterView } | undefined>;
  /** Polls until an instance other than `not` says it leads; resolves with when it saw it. */
  waitForLeader(opts?: {
    not?: number;
    timeoutMs?: number;
    pollMs?: number;
  }): Promise<{ index: number; view: ClusterView; seenAt: number }>;
  /** An instance that answers the API (any, preferring `prefer`). */
  anyAdmin(prefer?: number): Promise<string>;
  /** Calls the admin API of an instance with the operator token. */
  api(
    admin: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }>;
  /** Starts a rollout of `version` (deploy through any instance). */
  deploy(version: string): Promise<void>;
  /** Every line every process wrote (for a failure). */
  logs(): string;
  close(): Promise<void>;
}

function specYaml(o: {
  stable: string;
  canary: string;
  tick: string;
  steps: readonly StepInput[];
}): string {
  return [
    "admin: 127.0.0.1:0",
    "listen: 127.0.0.1:0",
    `controller: { tick: ${o.tick} }`,
    "dataplane: { engine: fleet }",
    "services:",
    `  - name: ${SERVICE}`,
    "    match: { pathPrefix: / }",
    `    stable: { version: v1, targets: [${o.stable}] }`,
    `    canary: { version: v2, targets: [${o.canary}] }`,
    "    strategy:",
    `      steps: ${JSON.stringify(o.steps)}`,
    "",
  ].join("\n");
}

export async function startHaCluster(opts: HaClusterOptions): Promise<HaCluster> {
  if (!existsSync(AVIARY_BIN))
    throw new Error(`${AVIARY_BIN} is missing: run \`npm run build\` first (npm test does)`);
  const dir = mkdtempSync(join(tmpdir(), "aviary-ha-"));
  const token = "ha-operator-token";
  const leaseMs = opts.leaseMs ?? 3_000;
  const upstreams = new Map<string, TestUpstream>();
  const upstream = async (version: string) => {
    let u = upstreams.get(version);
    if (u === undefined) {
      u = await startTestUpstream(version);
      upstreams.set(version, u);
    }
    return u;
  };
  const stable = await upstream("v1");
  const canary = await upstream("v2");
  const specFile = join(dir, "aviary.yaml");
  writeFileSync(
    specFile,
    specYaml({
      stable: stable.url,
      canary: canary.url,
      tick: opts.tick ?? "200ms",
      steps: opts.steps,
    }),
  );
  const tokenFile = join(dir, "router.token");
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });

  const pg = await startPostgres();
  const storeUrl = await pg.createDatabase("aviary");
  const adminPorts: number[] = [];
  for (let i = 0; i < (opts.instances ?? 3); i++) adminPorts.push(await freeTcpPort());
  const instances: Instance[] = adminPorts.map((port, i) => {
    const name = `serve-${String.fromCharCode(97 + i)}`;
    return {
      name,
      admin: `http://127.0.0.1:${port}`,
      proc: new ManagedProcess({
        name,
        command: process.execPath,
        args: [
          AVIARY_BIN,
          "serve",
          "-c",
          specFile,
          "--admin",
          `127.0.0.1:${port}`,
          "--listen",
          "127.0.0.1:0",
          "--data-dir",
          join(dir, name),
          "--store",
          storeUrl,
          "--lease",
          `${leaseMs}ms`,
          "--instance",
          name,
        ],
        env: { AVIARY_TOKEN: token, AVIARY_LOG_LEVEL: "info", ...opts.env },
      }),
    };
  });
  const controls = instances.map((x) => x.admin).join(",");
  const routers: RouterProcess[] = [];
  for (let i = 0; i < (opts.routers ?? 2); i++) {
    const name = `router-${i + 1}`;
    const port = await freeTcpPort();
    const statusPort = await freeTcpPort();
    routers.push({
      name,
      address: `127.0.0.1:${port}`,
      statusPort,
      proc: new ManagedProcess({
        name,
        command: process.execPath,
        args: [
          AVIARY_BIN,
          "router",
          "--control",
          controls,
          "--token-file",
          tokenFile,
          "--listen",
          `127.0.0.1:${port}`,
          "--status",
          `127.0.0.1:${statusPort}`,
          "--data-dir",
          join(dir, name),
          "--id",
          name,
        ],
        env: { AVIARY_LOG_LEVEL: "info" },
      }),
    });
  }

  const startInstance = async (i: number) => {
    const x = instances[i];
    if (x === undefined) throw new Error(`no instance ${i}`);
    x.proc.start();
    await x.proc.waitFor((l) => l.msg === "aviary serving", "its ready line", 30_000);
  };
  const startRouter = async (i: number) => {
    const r = routers[i];
    if (r === undefined) throw new Error(`no router ${i}`);
    r.proc.start();
    await r.proc.waitFor(
      (l) => typeof l.msg === "string" && /^aviary router (started|serving)/.test(l.msg),
      "its ready line",
      30_000,
    );
  };

  const api: HaCluster["api"] = async (admin, method, path, body) => {
    const res = await fetch(`${admin}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, json };
  };

  const view = async (i: number, timeoutMs = 1_000): Promise<ClusterView | undefined> => {
    const x = instances[i];
    if (x === undefined || !x.proc.alive || x.proc.paused) return undefined;
    try {
      const res = await fetch(`${x.admin}/api/v1/cluster`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!res.ok) return undefined;
      return parseClusterView((await res.json()) as Record<string, unknown>);
    } catch {
      return undefined;
    }
  };

  const leader: HaCluster["leader"] = async () => {
    const views = await Promise.all(instances.map((_, i) => view(i)));
    const i = views.findIndex((v) => v?.role === "leader");
    const v = views[i];
    return v === undefined ? undefined : { index: i, view: v };
  };

  const cluster: HaCluster = {
    pg,
    instances,
    routers,
    front: undefined as unknown as Front,
    token,
    leaseMs,
    steps: opts.steps,
    upstream,
    startInstance,
    startRouter,
    view,
    leader,
    async waitForLeader({ not, timeoutMs = 30_000, pollMs = 50 } = {}) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const found = await leader();
        if (found !== undefined && found.index !== not)
          return { ...found, seenAt: performance.now() };
        if (performance.now() > deadline)
          throw new Error(
            `no leader (other than ${not}) within ${timeoutMs} ms:\n${cluster.logs()}`,
          );
        await new Promise((r) => setTimeout(r, pollMs));
      }
    },
    async anyAdmin(prefer) {
      const order = instances.map((_, i) => i);
      if (prefer !== undefined) order.unshift(prefer);
      for (const i of order) if ((await view(i)) !== undefined) return instances[i]?.admin ?? "";
      throw new Error("no instance answers");
    },
    api,
    async deploy(version) {
      const u = await upstream(version);
      const admin = await cluster.anyAdmin();
      const res = await api(admin, "POST", `/api/v1/services/${SERVICE}/deploy`, {
        version,
        targets: [u.url],
      });
      if (res.status >= 300)
        throw new Error(`deploy ${version}: ${res.status} ${JSON.stringify(res.json)}`);
    },
    logs() {
      return [...instances.map((x) => x.proc), ...routers.map((r) => r.proc)]
        .map((p) => p.tail(30))
        .join("\n");
    },
    async close() {
      await cluster.front?.stop();
      await Promise.all(routers.map((r) => r.proc.stop()));
      await Promise.all(instances.map((x) => x.proc.stop()));
      await pg.stop();
      for (const u of upstreams.values()) await u.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    // One at a time: the first takes the lease and stores the spec; the others follow.
    for (let i = 0; i < instances.length; i++) await startInstance(i);
    for (let i = 0; i < routers.length; i++) await startRouter(i);
    cluster.front = await startFront(
      routers.map((r) => ({ name: r.name, address: r.address, checkPort: r.statusPort })),
    );
  } catch (err) {
    await cluster.close().catch(() => undefined);
    throw err;
  }
  return cluster;
}

/** `GET /api/v1/cluster`'s answer, reduced (the leader as a name or as `{ holder }`). */
export function parseClusterView(raw: Record<string, unknown>): ClusterView {
  const leader = raw.leader as unknown;
  const leaderName =
    typeof leader === "string"
      ? leader
      : typeof leader === "object" && leader !== null
        ? String(
            (leader as Record<string, unknown>).holder ??
              (leader as Record<string, unknown>).instance ??
              "",
          )
        : null;
  const epochRaw =
    raw.epoch ??
    (typeof leader === "object" && leader !== null
      ? (leader as Record<string, unknown>).epoch
      : null);
  const why = raw.why ?? raw.reason ?? raw.noLeader ?? null;
  return {
    instance: String(raw.instance ?? raw.holder ?? ""),
    role: String(raw.role ?? ""),
    leader: leaderName === "" ? null : leaderName,
    epoch: typeof epochRaw === "number" ? epochRaw : null,
    why: why === null ? null : String(why),
    raw,
  };
}
