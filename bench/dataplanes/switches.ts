/**
 * How fast a weight change through a driven engine's provider reaches users, under load.
 *
 * 100 changes, 10 → 50 → 10 … through `provider.apply`, 50 ms apart, while wrk runs. After each
 * `apply` returns, a probe client (keep-alive, one request at a time) asks as a user whose
 * sticky bucket lies between the two weights (Aviary's murmur3 bucket of "bench:<id>", in
 * [1000, 5000)): at weight 10 that user is served by stable, at 50 by canary, and the upstream
 * names itself in the body. "Sees the new split" = the first probe response from the side the
 * new weight sends that user to; the time is from `apply` returning to that response's end (an
 * upper bound: it includes that one request's round trip under load). Before each change the
 * probe checks the user is on the old side, so a user who would not move cannot count as a
 * fast switch. Failed requests: wrk's non-2xx and socket errors over its run (which covers the
 * changes) plus the probe's.
 *
 * @module
 */

import http from "node:http";
import { performance } from "node:perf_hooks";
import { bucketerFor } from "../../src/dataplane/hash.js";
import type { WrkRun } from "../proxy/wrk.js";
import type { DrivenEngine } from "./engines.js";

export const SWITCHES = 100;
const GAP_MS = 50;
/** A change not seen within this is counted at this value and reported. */
const GIVE_UP_MS = 5_000;
const LOW = 10;
const HIGH = 50;

/** User ids whose bucket for `group` is in [LOW×100, HIGH×100): they move when the weight does. */
export function movingUsers(group: string, n: number): string[] {
  const b = bucketerFor(group);
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const id = `probe-${i}`;
    const bucket = b.bucket(id);
    if (bucket >= LOW * 100 && bucket < HIGH * 100) out.push(id);
  }
  return out;
}

export interface SwitchRun {
  switches: number;
  /** ms from apply returning to the first response showing the new split, per change. */
  times: number[];
  /** Changes not seen within GIVE_UP_MS. */
  unseen: number;
  /** Changes whose probe user was not on the old side before the change. */
  notMoved: number;
  probeRequests: number;
  probeFailures: number;
  wrk: WrkRun;
}

export async function measureSwitches(
  url: string,
  group: string,
  d: DrivenEngine,
  load: (durationS: number) => Promise<WrkRun>,
): Promise<SwitchRun> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const users = movingUsers(group, 20);
  let probeRequests = 0;
  let probeFailures = 0;
  const ask = async (user: string): Promise<"stable" | "canary" | "failed"> => {
    probeRequests++;
    try {
      const r = await get(url, user, agent);
      if (r.status >= 200 && r.status < 300) {
        if (r.body.includes("canary")) return "canary";
        if (r.body.includes("stable")) return "stable";
      }
    } catch {
      // counted below
    }
    probeFailures++;
    return "failed";
  };
  // wrk runs long enough for every change (each is GAP_MS plus the time until seen).
  const running = load(Math.max(10, Math.ceil((SWITCHES * (GAP_MS + 40)) / 1000) + 2));
  let loadDone = false;
  void running.finally(() => {
    loadDone = true;
  });
  await sleep(500);
  const times: number[] = [];
  let unseen = 0;
  let notMoved = 0;
  let weight = LOW;
  for (let i = 0; i < SWITCHES && !loadDone; i++) {
    const user = users[i % users.length] as string;
    const next = weight === LOW ? HIGH : LOW;
    const before = await ask(user);
    if (before !== (weight === LOW ? "stable" : "canary")) notMoved++;
    await d.setWeight(next);
    const t0 = performance.now();
    const want = next === HIGH ? "canary" : "stable";
    let seen: number | undefined;
    while (performance.now() - t0 < GIVE_UP_MS) {
      if ((await ask(user)) === want) {
        seen = performance.now() - t0;
        break;
      }
    }
    if (seen === undefined) unseen++;
    times.push(seen ?? GIVE_UP_MS);
    weight = next;
    await sleep(GAP_MS);
  }
  if (weight !== LOW) await d.setWeight(LOW);
  const wrk = await running;
  agent.destroy();
  return {
    switches: times.length,
    times,
    unseen,
    notMoved,
    probeRequests,
    probeFailures,
    wrk,
  };
}

/** Nearest-rank percentile (p in 0-1) of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? Number.NaN;
}

function get(
  url: string,
  user: string,
  agent: http.Agent,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { "x-user-id": user }, timeout: 2000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (s: string) => {
        body += s;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("probe timeout after 2 s")));
    req.on("error", reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
