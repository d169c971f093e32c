/**
 * What the in-process cluster tests share (`test/cluster.test.ts`, `test/leader-change.test.ts`):
 * an instance of Aviary on a shared store, its admin API called over real HTTP, and bounded
 * polling.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { request } from "undici";
import { type RunningAviary, startAviary } from "../src/server.js";
import type { Spec } from "../src/spec/schema.js";
import type { Store } from "../src/store/store.js";
import { formatListenAddress } from "../src/util/address.js";
import { silentLogger } from "../src/util/log.js";

export interface Instance {
  name: string;
  aviary: RunningAviary;
  store: Store;
  admin: string;
}

/**
 * Starts instance `name` of Aviary on `store` in `dir/name`, with `token` as its operator token
 * (set in the environment only for the start, as `aviary serve` reads it).
 */
export async function startInstance(
  name: string,
  o: { spec: Spec; store: Store; dir: string; token: string; leaseMs: number },
): Promise<Instance> {
  const saved = process.env.AVIARY_TOKEN;
  process.env.AVIARY_TOKEN = o.token;
  try {
    const aviary = await startAviary({
      spec: o.spec,
      log: silentLogger(),
      dataDir: join(o.dir, name),
      openedStore: o.store,
      leaseMs: o.leaseMs,
      instance: name,
    });
    return {
      name,
      aviary,
      store: o.store,
      admin: `http://${formatListenAddress(aviary.adminAddress)}`,
    };
  } finally {
    if (saved === undefined) delete process.env.AVIARY_TOKEN;
    else process.env.AVIARY_TOKEN = saved;
  }
}

/** Calls an instance's admin API with `token`; the answer's status and JSON body. */
export function apiCaller(token: string) {
  return async function call(
    inst: Instance,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await request(`${inst.admin}${path}`, {
      method: method as "GET",
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, json: text === "" ? {} : JSON.parse(text) };
  };
}

/** Bounded polling (never a duration asserted): `check` until it returns neither undefined nor false. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  ms = 20_000,
): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
