/**
 * The nginx traffic provider: drives the control server that `renderNginx` adds to nginx, over
 * HTTP on loopback (undici), and keeps the applied state in a file nginx reads at start.
 *
 * Each call is bounded by `settings.timeout`. A refused or cut connection is `unreachable`, no
 * answer in time is `timeout`, an answer of 4xx/5xx is `refused` (a 404 for a service the
 * rendered configuration lacks is `not-configured`). Every request is idempotent (whole states,
 * never deltas), so one that fails on a stale keep-alive connection is sent once more.
 *
 * @module
 */

import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { Pool } from "undici";
import type { TrafficState } from "../../../rollout/types.js";
import type { NginxSettings, Service } from "../../../spec/schema.js";
import { formatListenAddress, parseListenAddress } from "../../../util/address.js";
import type { Clock } from "../../../util/clock.js";
import { parseDuration } from "../../../util/duration.js";
import type { Logger } from "../../../util/log.js";
import {
  type ServedTraffic,
  type TrafficCapabilities,
  type TrafficProvider,
  TrafficProviderError,
} from "../provider.js";
import { nginxCapabilities } from "./capabilities.js";
import { initialTraffic, STATE_FILE, stateFilePath } from "./render.js";
import {
  type NginxState,
  nginxState,
  servedOfState,
  trafficOfState,
  unsupportedIn,
} from "./state.js";

export const PROVIDER_TYPE = "nginx";
const BASE = "/aviary/v1/services";

/** What the control server's GET of all services answers. */
export interface NginxSnapshot {
  /** Changes when nginx starts afresh (a reload keeps it, as it keeps the shared dict). */
  boot: string;
  /** The services the rendered include has a location for. */
  rendered: string[];
  services: Record<string, NginxState>;
}

export class NginxTrafficProvider implements TrafficProvider {
  readonly type = PROVIDER_TYPE;
  readonly capabilities: TrafficCapabilities;
  readonly #settings: NginxSettings;
  readonly #log: Logger;
  readonly #pool: Pool;
  readonly #timeoutMs: number;
  /** The spec of each service, from the last configure. */
  #specs = new Map<string, Service>();
  /** The body last applied per service, as written to the state file; loaded from it first. */
  #applied: Map<string, string> | undefined;
  /** State-file writes, one after another. */
  #writing: Promise<void> = Promise.resolve();
  /** The boot id last observed, to log when nginx has restarted. */
  #boot: string | undefined;

  constructor(settings: NginxSettings, deps: { log: Logger; clock: Clock }) {
    this.#settings = settings;
    this.#log = deps.log;
    this.capabilities = nginxCapabilities(settings);
    this.#timeoutMs = parseDuration(settings.timeout) ?? 2_000;
    const address = parseListenAddress(settings.control);
    if (address === undefined)
      throw new Error(`dataplane.nginx.control: ${settings.control} is not HOST:PORT`);
    this.#pool = new Pool(`http://${formatListenAddress(address)}`, {
      connections: 4,
      connect: { timeout: this.#timeoutMs },
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      keepAliveTimeout: 4_000,
    });
  }

  async configure(
    services: readonly Service[],
    traffic: ReadonlyMap<string, TrafficState>,
  ): Promise<void> {
    const bodies = new Map<string, string>();
    const now = await this.#snapshot();
    // Refuse before changing anything when nginx's include lacks a service.
    const missing = services.filter((s) => !now.rendered.includes(s.name)).map((s) => s.name);
    if (missing.length > 0)
      throw new TrafficProviderError(
        PROVIDER_TYPE,
        "not-configured",
        `nginx's rendered configuration has no location for ${missing.join(", ")}: render it again and reload nginx`,
      );
    for (const s of services) {
      const kept = now.services[s.name];
      const state =
        traffic.get(s.name) ?? (kept === undefined ? initialTraffic(s) : trafficOfState(kept));
      bodies.set(s.name, this.#body(s, state));
    }
    this.#specs = new Map(services.map((s) => [s.name, s]));
    for (const [name, body] of bodies) await this.#put(name, body);
    for (const name of Object.keys(now.services))
      if (!this.#specs.has(name)) await this.finalize(name);
  }

  async apply(service: string, state: TrafficState): Promise<void> {
    const spec = this.#specs.get(service);
    if (spec === undefined)
      throw new TrafficProviderError(
        PROVIDER_TYPE,
        "not-configured",
        `service ${service} was never configured in this provider`,
      );
    await this.#put(service, this.#body(spec, state));
  }

  async observe(): Promise<ReadonlyMap<string, ServedTraffic>> {
    const snap = await this.#snapshot();
    return new Map(Object.entries(snap.services).map(([name, s]) => [name, servedOfState(s)]));
  }

  /** The raw answer of GET all: what the shared dict holds, with nginx's boot id. */
  async snapshot(): Promise<NginxSnapshot> {
    return this.#snapshot();
  }

  async finalize(service: string): Promise<void> {
    const res = await this.#call("DELETE", `${BASE}/${encodeURIComponent(service)}`);
    if (res.status !== 204 && res.status !== 404) throw this.#refused(res, `finalize ${service}`);
    const applied = await this.#loaded();
    if (applied.delete(service)) await this.#save();
  }

  canaryAvailable(): boolean | undefined {
    // nginx checks no health here: unknown.
    return undefined;
  }

  async close(): Promise<void> {
    await this.#writing;
    await this.#pool.close();
  }

  #body(spec: Service, state: TrafficState): string {
    const first = unsupportedIn(spec, state, this.#settings.targetSlots)[0];
    if (first !== undefined)
      throw new TrafficProviderError(
        PROVIDER_TYPE,
        "unsupported",
        `${spec.name}: ${first.path}: ${first.message}`,
      );
    return JSON.stringify(nginxState(spec, state));
  }

  async #put(service: string, body: string): Promise<void> {
    const res = await this.#call("PUT", `${BASE}/${encodeURIComponent(service)}`, body);
    if (res.status !== 204) throw this.#refused(res, `apply ${service}`);
    (await this.#loaded()).set(service, body);
    await this.#save();
  }

  async #snapshot(): Promise<NginxSnapshot> {
    const res = await this.#call("GET", BASE);
    if (res.status !== 200) throw this.#refused(res, "observe");
    let snap: NginxSnapshot;
    try {
      snap = JSON.parse(res.body) as NginxSnapshot;
    } catch (e) {
      throw new TrafficProviderError(PROVIDER_TYPE, "refused", "observe: the answer is not JSON", {
        cause: e,
      });
    }
    if (this.#boot !== undefined && snap.boot !== this.#boot)
      this.#log.warn(
        { engine: PROVIDER_TYPE, boot: snap.boot },
        "nginx started afresh: it serves its state file or the rendered states",
      );
    this.#boot = snap.boot;
    return snap;
  }

  #refused(res: { status: number; body: string }, what: string): TrafficProviderError {
    let code = "";
    let message = res.body.slice(0, 300);
    try {
      const p = JSON.parse(res.body) as { code?: string; error?: string };
      code = p.code ?? "";
      message = p.error ?? message;
    } catch {}
    return new TrafficProviderError(
      PROVIDER_TYPE,
      code === "not-configured" ? "not-configured" : "refused",
      `${what}: nginx answered ${res.status}: ${message}`,
    );
  }

  /** One request to the control server, sent once more if a kept-alive socket was stale. */
  async #call(
    method: "GET" | "PUT" | "DELETE",
    path: string,
    body?: string,
  ): Promise<{ status: number; body: string }> {
    try {
      return await this.#send(method, path, body);
    } catch (e) {
      if (!(e instanceof TrafficProviderError && e.kind === "unreachable" && isStale(e.cause)))
        throw e;
      return this.#send(method, path, body);
    }
  }

  async #send(
    method: "GET" | "PUT" | "DELETE",
    path: string,
    body?: string,
  ): Promise<{ status: number; body: string }> {
    try {
      const res = await this.#pool.request({
        method,
        path,
        ...(body === undefined
          ? {}
          : { body, headers: { "content-type": "application/json; charset=utf-8" } }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      return { status: res.statusCode, body: await res.body.text() };
    } catch (e) {
      throw classify(e, `${method} ${path}`, this.#settings.control, this.#timeoutMs);
    }
  }

  async #loaded(): Promise<Map<string, string>> {
    if (this.#applied !== undefined) return this.#applied;
    const applied = new Map<string, string>();
    const text = await readFile(stateFilePath(this.#settings), "utf8").catch((e) => {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return "";
      throw e;
    });
    for (const line of text.split("\n")) {
      const sp = line.indexOf(" ");
      if (sp > 0) applied.set(line.slice(0, sp), line.slice(sp + 1));
    }
    this.#applied ??= applied;
    return this.#applied;
  }

  /** Writes the state file (temporary file, then rename: nginx never reads half a file). */
  #save(): Promise<void> {
    const next = this.#writing.then(async () => {
      const applied = await this.#loaded();
      const path = stateFilePath(this.#settings);
      const text = [...applied].map(([name, body]) => `${name} ${body}\n`).join("");
      const temp = `${path}.${randomUUID()}.tmp`;
      try {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(temp, text, { mode: 0o644 });
        await rename(temp, path);
      } catch (e) {
        throw new TrafficProviderError(
          PROVIDER_TYPE,
          "refused",
          `applied, but ${STATE_FILE} in dataplane.nginx.stateDir could not be written: ${(e as Error).message}`,
          { cause: e },
        );
      }
    });
    this.#writing = next.catch(() => {});
    return next;
  }
}

/** A connection that died under a request (a kept-alive socket nginx closed). */
function isStale(cause: unknown): boolean {
  const code = (cause as { code?: string } | undefined)?.code;
  return code === "UND_ERR_SOCKET" || code === "ECONNRESET";
}

function classify(e: unknown, what: string, control: string, timeoutMs: number): Error {
  if (e instanceof TrafficProviderError) return e;
  const err = e as { code?: string; name?: string; message?: string };
  const code = err.code ?? "";
  if (
    err.name === "TimeoutError" ||
    err.name === "AbortError" ||
    code === "UND_ERR_CONNECT_TIMEOUT" ||
    code === "UND_ERR_HEADERS_TIMEOUT" ||
    code === "UND_ERR_BODY_TIMEOUT" ||
    code === "ETIMEDOUT"
  )
    return new TrafficProviderError(
      PROVIDER_TYPE,
      "timeout",
      `${what}: nginx's control server at ${control} did not answer within ${timeoutMs} ms`,
      { cause: e },
    );
  return new TrafficProviderError(
    PROVIDER_TYPE,
    "unreachable",
    `${what}: nginx's control server at ${control} is unreachable: ${code || err.message}`,
    { cause: e },
  );
}

export function createNginxProvider(
  settings: NginxSettings,
  deps: { log: Logger; clock: Clock },
): TrafficProvider {
  return new NginxTrafficProvider(settings, deps);
}
