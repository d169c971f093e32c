/**
 * What the in-process cluster tests share (`test/cluster.test.ts`, `test/leader-change.test.ts`):
 * an instance of Aviary on a shared store, its admin API called over real HTTP, and bounded
 * polling.
 */

import assert from "node:assert/strict";
import { request } from "undici";
import type { RunningAviary } from "../src/server.js";
import type { Store } from "../src/store/store.js";

export interface Instance {
  name: string;
  aviary: RunningAviary;
  store: Store;
  admin: string;
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
