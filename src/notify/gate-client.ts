/**
 * Asks a rollout gate's hook whether the rollout may go on: one signed POST, one answer.
 * A 2xx opens the gate; anything else (another status, a timeout, no connection) keeps it
 * shut, with a short message saying why for the rollout's reason line. The controller decides
 * when to ask again (`gate.interval`), so there are no retries here.
 *
 * The message carries the status and at most the first 200 characters of the hook's answer,
 * never the URL (from `urlFrom` it is a credential), and the call never throws for what the
 * hook does: only a gate that has no hook, or whose secret is missing, is an error.
 *
 * @module
 */

import { randomUUID } from "node:crypto";
import { type Dispatcher, request } from "undici";
import { AviaryError } from "../errors.js";
import type { GateAnswer, GatePayload } from "../rollout/gate-poller.js";
import type { Gate } from "../spec/notify.js";
import { parseDuration } from "../util/duration.js";
import { outgoingHeaders } from "./headers.js";
import { errorCode } from "./net-error.js";
import { type Env, type ReadFile, readSecret } from "./secret.js";

// The controller's GatePoller decides when to ask; these are its types.
export type { GateAnswer, GatePayload };

export interface GateCallOptions {
  env?: Env | undefined;
  readFile?: ReadFile | undefined;
  /** Cancels the call (shutdown); the answer is then "not open". */
  signal?: AbortSignal | undefined;
  /** The undici dispatcher to use; the global one by default. */
  dispatcher?: Dispatcher | undefined;
  /** The signature's clock; Date.now by default. */
  now?: (() => number) | undefined;
}

export interface GateHook {
  url: string;
  secret: string | undefined;
}

const MAX_SNIPPET = 200;
const READ_LIMIT = 4096;

/**
 * The hook a gate calls, with its secrets read; null for a gate without url/urlFrom, which
 * only an operator opens. Throws an AviaryError naming the gate when a secret is missing or
 * the URL is not http(s); call it at startup to find out early.
 */
export function resolveGateHook(
  gate: Gate,
  env?: Env | undefined,
  readFile?: ReadFile | undefined,
): GateHook | null {
  const read = (ref: NonNullable<Gate["secret"]>, field: string): string => {
    try {
      return readSecret(ref, env, readFile);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      throw new AviaryError("AVIARY_GATE_INVALID", `gate ${gate.name}.${field}: ${detail}`, {
        cause: err,
      });
    }
  };
  let url: string;
  if (gate.url !== undefined) url = gate.url;
  else if (gate.urlFrom !== undefined) url = read(gate.urlFrom, "urlFrom");
  else return null;
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== "http:" && protocol !== "https:") {
    const field = gate.url !== undefined ? "url" : "urlFrom";
    throw new AviaryError(
      "AVIARY_GATE_INVALID",
      `gate ${gate.name}.${field}: not an http:// or https:// URL`,
    );
  }
  return { url, secret: gate.secret === undefined ? undefined : read(gate.secret, "secret") };
}

/** Reads at most READ_LIMIT bytes of an answer, then lets the rest go. */
async function readSome(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= READ_LIMIT) break;
    }
  } catch {
    // A body cut short still says what it said so far.
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, READ_LIMIT).toString("utf8");
}

/** One line, printable, at most MAX_SNIPPET characters, with the URL blotted out if echoed. */
function snippet(text: string, url: string): string {
  let s = text.split(url).join("[url]");
  const path = safePath(url);
  if (path !== undefined) s = s.split(path).join("[url]");
  s = s
    .replace(/[\u0000-\u001f\u007f]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return s.length > MAX_SNIPPET ? `${s.slice(0, MAX_SNIPPET)}…` : s;
}

/** The URL's path and query when they could hold a token (longer than a bare `/hook`). */
function safePath(url: string): string | undefined {
  try {
    const u = new URL(url);
    const p = `${u.pathname}${u.search}`;
    return p.length > 8 ? p : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Asks the gate's hook once. Throws only for a gate that has no hook (it opens through the
 * API) or whose secrets are missing; every answer or failure of the hook is a GateAnswer.
 */
export async function callGate(
  gate: Gate,
  payload: GatePayload,
  opts: GateCallOptions = {},
): Promise<GateAnswer> {
  const hook = resolveGateHook(gate, opts.env, opts.readFile);
  if (hook === null) {
    throw new AviaryError(
      "AVIARY_GATE_NO_HOOK",
      `gate ${gate.name} has no url or urlFrom: it opens only through the API`,
    );
  }
  const timeoutMs = parseDuration(gate.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0) {
    throw new AviaryError(
      "AVIARY_GATE_INVALID",
      `gate ${gate.name}.timeout: expected a positive duration such as 10s`,
    );
  }
  const body = JSON.stringify(payload);
  const signals = [AbortSignal.timeout(timeoutMs)];
  if (opts.signal !== undefined) signals.push(opts.signal);
  const signal = AbortSignal.any(signals);
  try {
    const res = await request(hook.url, {
      method: "POST",
      headers: outgoingHeaders({
        event: `gate.${gate.type}`,
        deliveryId: randomUUID(),
        body,
        secret: hook.secret,
        now: (opts.now ?? Date.now)(),
      }),
      body,
      signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      ...(opts.dispatcher === undefined ? {} : { dispatcher: opts.dispatcher }),
    });
    const status = res.statusCode;
    const text = snippet(await readSome(res.body), hook.url);
    const said = text === "" ? "" : `: ${text}`;
    return {
      open: status >= 200 && status < 300,
      status,
      message: `hook answered ${status}${said}`,
    };
  } catch (err) {
    const code = errorCode(err);
    if (opts.signal?.aborted === true && code !== "timeout") {
      return { open: false, status: null, message: "call cancelled" };
    }
    return {
      open: false,
      status: null,
      message:
        code === "timeout"
          ? `hook gave no answer within ${gate.timeout}`
          : `hook unreachable (${code})`,
    };
  }
}
