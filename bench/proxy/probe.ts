/**
 * Plain HTTP probes from the orchestrator (fresh connection each, so nothing lingers):
 * readiness, the upstreams' request counters and a stickiness check.
 *
 * @module
 */

import http from "node:http";
import type { Proc } from "./procs.js";
import { sleep, tail } from "./procs.js";

export interface Reply {
  status: number;
  body: string;
}

export function httpGet(url: string, headers: Record<string, string> = {}, timeoutMs = 2000) {
  return new Promise<Reply>((resolve, reject) => {
    const req = http.get(url, { headers, agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (s: string) => {
        body += s;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/** Waits until `url` answers 200, failing early if `proc` exits. */
export async function waitReady(url: string, proc: Proc | undefined, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (proc?.done) {
      const why = tail(proc.stderr, 15);
      throw new Error(`${proc.name} exited during start-up${why ? `:\n${why}` : ""}`);
    }
    try {
      const r = await httpGet(url, { "x-user-id": "ready-probe" }, 1000);
      if (r.status === 200) return;
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${proc?.name ?? url} not ready after ${timeoutMs} ms (${last})`);
}

/** Requests served so far by one upstream (its `/__count`, which does not count itself). */
export async function upstreamCount(origin: string): Promise<number> {
  const r = await httpGet(`${origin}/__count`);
  const n = Number(r.body);
  if (r.status !== 200 || !Number.isFinite(n)) throw new Error(`bad /__count from ${origin}`);
  return n;
}

export interface StickyCheck {
  users: number;
  /** Users whose two requests reached different upstreams. */
  flipped: number;
  /** Users that landed on the canary. */
  onCanary: number;
  /** Non-200 answers. */
  failed: number;
}

/** Sends two requests for each of `users` ids and checks both reached the same upstream. */
export async function checkSticky(url: string, users = 200): Promise<StickyCheck> {
  const out: StickyCheck = { users, flipped: 0, onCanary: 0, failed: 0 };
  for (let i = 0; i < users; i++) {
    const headers = { "x-user-id": `sticky-${i}` };
    const a = await httpGet(url, headers);
    const b = await httpGet(url, headers);
    if (a.status !== 200 || b.status !== 200) out.failed++;
    else if (a.body !== b.body) out.flipped++;
    else if (a.body.includes("canary")) out.onCanary++;
  }
  return out;
}

/** Sum of Aviary's `aviary_requests_total` series on its admin `/metrics`, or undefined if absent. */
export async function aviaryRequestsTotal(adminOrigin: string): Promise<number | undefined> {
  const r = await httpGet(`${adminOrigin}/metrics`);
  if (r.status !== 200) return undefined;
  let total: number | undefined;
  for (const line of r.body.split("\n")) {
    const m = /^aviary_requests_total(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m !== null) total = (total ?? 0) + Number(m[1]);
  }
  return total;
}
