/**
 * The demo, start to end: three versions of a sample shop on local ports, Aviary in front of
 * them on the embedded defaults (SQLite in a temporary data directory, the built-in router,
 * the admin API and dashboard), users sending traffic, and the story — v2 (more errors,
 * slower, fewer orders per session) is deployed and rolled back by the analysis on its own; v3 (healthy) goes
 * 5 → 25 → 50 → 100 % and is promoted. It narrates as it goes and returns what happened.
 *
 * @module
 */

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RolloutEvent } from "../rollout/types.js";
import { type RunningAviary, startAviary } from "../server.js";
import { Spec } from "../spec/schema.js";
import { formatListenAddress } from "../util/address.js";
import type { Logger } from "../util/log.js";
import { ConversionLog, type StatsServer, startStatsServer } from "./conversions.js";
import {
  type DemoEngine,
  demoDataplane,
  ENGINE_NAMES,
  type EngineProcess,
  startEngine,
} from "./dataplane.js";
import { LoadGenerator } from "./load.js";
import { clockLabel, describeEvent, type Paint, trafficLine } from "./narrate.js";
import { type SampleService, startSampleService } from "./sample-service.js";
import { demoSpec } from "./spec.js";
import { type DemoOutcome, summarize, type VersionOutcome } from "./summary.js";

export interface DemoOptions {
  listen: string;
  admin: string;
  log: Logger;
  paint: Paint;
  write(line: string): void;
  /** Requests per second the users send. */
  rate?: number;
  /** How long one rollout may take before the demo gives up on it. */
  rolloutTimeoutMs?: number;
  /** Who carries the users' traffic: the embedded router (default), or a real HAProxy or nginx. */
  dataplane?: DemoEngine;
}

export interface Demo {
  aviary: RunningAviary;
  routerUrl: string;
  dashboardUrl: string;
  /** The operator token for the dashboard and the CLI (from the demo's own data directory). */
  token: string;
  dataDir: string;
  /** Who carries the users' traffic. */
  engine: DemoEngine;
  /** The engine's process (HAProxy's or nginx's master), undefined for the embedded router. */
  enginePid: number | undefined;
  /** Runs the story; resolves with what happened. */
  run(): Promise<DemoOutcome>;
  /** Stops the users, Aviary, the engine and the sample versions, and removes the data directory. */
  close(): Promise<void>;
}

/** v2 fails more, is slower and turns fewer sessions into orders; v3 is healthy. */
const VERSIONS = {
  v1: { errorRate: 0.002, latencyMs: 20, conversionRate: 0.1 },
  v2: { errorRate: 0.08, latencyMs: 80, conversionRate: 0.05 },
  v3: { errorRate: 0.002, latencyMs: 20, conversionRate: 0.1 },
} as const;

export async function startDemo(opts: DemoOptions): Promise<Demo> {
  const started: SampleService[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), "aviary-demo-"));
  let aviary: RunningAviary | undefined;
  let load: LoadGenerator | undefined;
  let stats: StatsServer | undefined;
  let engineProcess: EngineProcess | undefined;
  const engine = opts.dataplane ?? "embedded";
  const close = async () => {
    await load?.stop();
    await aviary?.close();
    await engineProcess?.stop();
    await Promise.all(started.map((s) => s.close()));
    await stats?.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const services: Record<string, SampleService> = {};
    const conversions = new ConversionLog();
    stats = await startStatsServer(conversions);
    for (const [version, o] of Object.entries(VERSIONS)) {
      const s = await startSampleService({ version, ...o, conversions });
      started.push(s);
      services[version] = s;
    }
    const input = demoSpec({
      listen: opts.listen,
      admin: opts.admin,
      stableUrl: services.v1?.url as string,
      statsUrl: stats.url,
    });
    // A real engine: its configuration is rendered from the spec and it is started before
    // Aviary, which then drives it at run time and reads its access log.
    const external =
      engine === "embedded" ? undefined : await demoDataplane(engine, dataDir, opts.listen);
    const spec = Spec.parse(external ? { ...input, ...external } : input);
    if (external) engineProcess = await startEngine(spec, dataDir);
    const running = await startAviary({ spec, log: opts.log, dataDir });
    aviary = running;
    const routerUrl = `http://${formatListenAddress(running.listen)}`;
    const users = new LoadGenerator({
      url: routerUrl,
      path: "/shop/",
      rate: opts.rate ?? 150,
      users: 5_000,
      betaShare: 0.03,
    });
    load = users;
    const token =
      process.env.AVIARY_TOKEN || readFileSync(join(dataDir, "operator-token"), "utf8").trim();
    return {
      aviary: running,
      routerUrl,
      dashboardUrl: `http://${formatListenAddress(running.adminAddress)}/dashboard/`,
      token,
      dataDir,
      engine,
      enginePid: engineProcess?.pid,
      run: () => story(running, services, users, opts),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function story(
  aviary: RunningAviary,
  services: Record<string, SampleService>,
  users: LoadGenerator,
  opts: DemoOptions,
): Promise<DemoOutcome> {
  const t0 = Date.now();
  const say = (line: string) =>
    opts.write(`${opts.paint.dim(clockLabel(Date.now() - t0))}  ${line}`);
  const unsubscribe = aviary.hub.subscribe((m) => {
    if (m.kind !== "event" || m.event.service !== "shop") return;
    const line = describeEvent(m.event, opts.paint);
    if (line !== undefined) say(line);
  });
  const ticker = setInterval(() => say(trafficLine(users.recent(5), opts.paint)), 5_000);
  try {
    users.start();
    const through = ENGINE_NAMES[opts.dataplane ?? "embedded"];
    say(
      `users are sending traffic to v1 (stable) through ${through}; 3 % of them are beta testers`,
    );
    await delay(6_000);
    const outcomes: VersionOutcome[] = [];
    for (const version of ["v2", "v3"] as const) {
      const deployedAt = Date.now();
      const rollout = await aviary.controller.deploy(
        "shop",
        { version, targets: [(services[version] as SampleService).url] },
        "operator:demo",
      );
      const end = await finished(aviary, rollout.id, opts.rolloutTimeoutMs ?? 150_000);
      outcomes.push({
        version,
        deployedAt,
        end,
        maxWeight: maxWeight(await aviary.controller.history("shop"), rollout.id),
      });
      await delay(3_000);
    }
    return summarize({
      startedAt: t0,
      endedAt: Date.now(),
      rollouts: outcomes,
      served: users.totals(),
      noAnswer: users.noAnswer,
      carriedBy: through,
    });
  } finally {
    clearInterval(ticker);
    unsubscribe();
  }
}

/** Resolves with the event that finished the rollout (aborted or promoted), or undefined on timeout. */
export async function finished(
  aviary: RunningAviary,
  rolloutId: string,
  timeoutMs: number,
  subject = "shop",
): Promise<RolloutEvent | undefined> {
  const done = (e: RolloutEvent) =>
    e.rolloutId === rolloutId && (e.type === "aborted" || e.type === "promoted");
  // Subscribed before the history is read: an event committed meanwhile is not missed.
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe = () => {};
  const live = new Promise<RolloutEvent | undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
    unsubscribe = aviary.hub.subscribe((m) => {
      if (m.kind === "event" && done(m.event)) resolve(m.event);
    });
  });
  try {
    const already = (await aviary.controller.history(subject)).find(done);
    return already ?? (await live);
  } finally {
    clearTimeout(timer);
    unsubscribe();
  }
}

export function maxWeight(events: readonly RolloutEvent[], rolloutId: string): number {
  let max = 0;
  for (const e of events) {
    if (e.rolloutId === rolloutId && e.type !== "promoted" && e.weight !== null)
      max = Math.max(max, e.weight);
  }
  return max;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
