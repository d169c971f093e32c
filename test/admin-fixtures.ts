/**
 * Shared builders for the admin API tests: an Aviary started in-process on port 0 with a temp
 * data directory, its operator token, and a small HTTP helper that speaks to its admin port.
 */

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import type { AdminOptions } from "../src/api/server.js";
import { type RunningAviary, startAviary } from "../src/server.js";
import { Spec, type SpecInput } from "../src/spec/schema.js";
import { formatListenAddress } from "../src/util/address.js";
import type { Clock } from "../src/util/clock.js";
import { type Logger, silentLogger } from "../src/util/log.js";

export interface TestAdmin {
  aviary: RunningAviary;
  dataDir: string;
  /** http://127.0.0.1:<admin port> */
  admin: string;
  /** http://127.0.0.1:<data-plane port> */
  url: string;
  operatorToken: string;
  call(method: string, path: string, opts?: CallOptions): Promise<Answer>;
  close(): Promise<void>;
}

export interface CallOptions {
  token?: string | undefined;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Answer {
  status: number;
  contentType: string;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field
  json: any;
}

export interface StartOptions {
  spec?: Omit<SpecInput, "listen" | "admin">;
  clock?: Clock;
  log?: Logger;
  dataDir?: string;
  streams?: AdminOptions["streams"];
}

export async function startAdmin(opts: StartOptions = {}): Promise<TestAdmin> {
  const dataDir = opts.dataDir ?? join(mkdtempSync(join(tmpdir(), "aviary-api-")), "data");
  const spec = Spec.parse({ ...opts.spec, listen: "127.0.0.1:0", admin: "127.0.0.1:0" });
  // The operator token comes from the data directory, not from whatever the shell exported.
  const saved = process.env.AVIARY_TOKEN;
  delete process.env.AVIARY_TOKEN;
  let aviary: RunningAviary;
  try {
    aviary = await startAviary({
      spec,
      log: opts.log ?? silentLogger(),
      dataDir,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.streams ? { streams: opts.streams } : {}),
    });
  } finally {
    if (saved !== undefined) process.env.AVIARY_TOKEN = saved;
  }
  const admin = `http://${formatListenAddress(aviary.adminAddress)}`;
  const operatorToken = readFileSync(join(dataDir, "operator-token"), "utf8").trim();
  const call = async (method: string, path: string, o: CallOptions = {}): Promise<Answer> => {
    const res = await request(`${admin}${path}`, {
      method: method as "GET",
      headers: {
        ...(o.token !== undefined ? { authorization: `Bearer ${o.token}` } : {}),
        ...(o.body !== undefined ? { "content-type": "application/json" } : {}),
        ...o.headers,
      },
      ...(o.body !== undefined
        ? { body: typeof o.body === "string" ? o.body : JSON.stringify(o.body) }
        : {}),
    });
    const text = await res.body.text();
    const contentType = String(res.headers["content-type"] ?? "");
    let json: unknown;
    if (contentType.includes("json") && text !== "") json = JSON.parse(text);
    return { status: res.statusCode, contentType, headers: res.headers, text, json };
  };
  return {
    aviary,
    dataDir,
    admin,
    url: `http://${formatListenAddress(aviary.listen)}`,
    operatorToken,
    call,
    close: () => aviary.close(),
  };
}

/** Lets promise callbacks and I/O run between ManualClock steps. */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}
