/**
 * How fast a flag change reaches the clients that listen for changes (issue 15: "a flag rolled
 * back reaches every client that listens for changes within 1 s").
 *
 * Starts the built `aviary serve` (SQLite store, an OFREP listener, one client key) as its own
 * process, connects N change-stream clients (real SSE over HTTP, each with its own targeting
 * key) and a few real `@openfeature/ofrep-web-provider` instances under Node (with undici's
 * EventSource), rolls a flag back through the admin API (`POST /api/v1/apply`, what `aviary
 * apply` sends), and measures for every client, from the moment the apply returned:
 * - `eventMs`: to the `refetchEvaluation` event on its stream (for a provider: to its
 *   PROVIDER_CONFIGURATION_CHANGED, which comes after its refetch and its 50 ms debounce);
 * - `reachMs`: to its refetched bulk evaluation holding the rolled-back value.
 * The change is broadcast on commit, before the API answers, so a value can be negative: the
 * client had it before the operator's command returned. `fromSentMs` is the same reach from the
 * moment the apply was sent (an upper bound on the time from the commit). Between runs the
 * flag is switched back on, and every client is seen to hear that too.
 *
 * All clients run in this one process, as many pages on one machine would: the figures include
 * their own queueing for the CPU.
 *
 * Usage: npm run bench:flag-changes [-- --clients 200 --providers 5 --runs 5 --json]
 */

import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { OFREPWebProvider } from "@openfeature/ofrep-web-provider";
import { OpenFeature, type Provider, ProviderEvents } from "@openfeature/web-sdk";
import { Agent, EventSource, request } from "undici";
import { stringify } from "yaml";
import { hashToken } from "../../src/api/tokens-file.js";
import { waitReady } from "../proxy/probe.js";
import {
  freePorts,
  installCleanup,
  launch,
  type Proc,
  registerTempDir,
  stop,
} from "../proxy/procs.js";
import { percentileSorted, round } from "../proxy/stats.js";
import { AdminApi, nowMs } from "../rollback/probes.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = "dist/cli/main.js";
const CLIENT_KEY = randomBytes(24).toString("base64url");
/**
 * The stream clients' refetches: undici's request over kept-alive connections, far lighter
 * than fetch, since all clients share this one process where each would have its own machine.
 */
const refetches = new Agent({ keepAliveTimeout: 60_000, connections: null });

function arg(name: string, fallback: number, min: number, max: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(
      `--${name} takes a whole number from ${min} to ${max}, got ${process.argv[i + 1]}`,
    );
    process.exit(2);
  }
  return v;
}

const json = process.argv.includes("--json");
const CLIENTS = arg("clients", 200, 1, 900);
const PROVIDERS = arg("providers", 5, 0, 50);
const RUNS = arg("runs", 5, 1, 100);
const say = (line: string) => {
  if (!json) console.log(line);
};

const checkout = (on: boolean) => ({
  key: "new-checkout",
  type: "boolean",
  variants: { on: true, off: false },
  defaultVariant: "off",
  // Switched on: beta testers and everyone else (100 %); rolled back: the control variant
  // for everyone.
  ...(on
    ? {
        rules: [{ when: [{ attribute: "user-type", equals: "beta-tester" }], variant: "on" }],
        rollout: { variant: "on", percent: 100 },
      }
    : {}),
});

interface Ports {
  listen: number;
  admin: number;
  ofrep: number;
}

const specOf = (p: Ports, on: boolean) => ({
  listen: `127.0.0.1:${p.listen}`,
  admin: `127.0.0.1:${p.admin}`,
  ofrep: { listen: `127.0.0.1:${p.ofrep}` },
  flags: [checkout(on)],
});

/** When a client heard of the change and when it held the new value, on {@link nowMs}. */
interface Arrival {
  eventAt?: number;
  valueAt?: number;
}

/** One change-stream client: an SSE GET held open, and a bulk refetch on each event. */
class StreamClient {
  readonly #ofrep: string;
  readonly #user: string;
  #req: ClientRequest | undefined;
  #want: boolean | undefined;
  arrival: Arrival = {};
  value: boolean | undefined;

  constructor(ofrep: string, user: string) {
    this.#ofrep = ofrep;
    this.#user = user;
  }

  /** Resolves once the stream's first bytes arrived (it is registered on the server). */
  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#req = httpRequest(
        `${this.#ofrep}/ofrep/v1/flag-changes`,
        { headers: { "x-api-key": CLIENT_KEY }, agent: false },
        (res: IncomingMessage) => {
          if (res.statusCode !== 200) {
            reject(new Error(`change stream: HTTP ${res.statusCode}`));
            return;
          }
          let buf = "";
          res.setEncoding("utf8");
          res.once("data", () => resolve());
          res.on("data", (chunk: string) => {
            buf += chunk;
            for (let end = buf.indexOf("\n\n"); end !== -1; end = buf.indexOf("\n\n")) {
              const message = buf.slice(0, end);
              buf = buf.slice(end + 2);
              if (message.includes('"refetchEvaluation"')) this.#changed();
            }
          });
        },
      );
      this.#req.on("error", reject);
      this.#req.end();
    });
  }

  /** The next change should make the flag `want`: record when this client sees it. */
  expect(want: boolean): void {
    this.#want = want;
    this.arrival = {};
  }

  #changed(): void {
    if (this.arrival.eventAt === undefined) this.arrival.eventAt = nowMs();
    void this.fetch().then((v) => {
      if (v === this.#want && this.arrival.valueAt === undefined) this.arrival.valueAt = nowMs();
    });
  }

  async fetch(): Promise<boolean | undefined> {
    const res = await request(`${this.#ofrep}/ofrep/v1/evaluate/flags`, {
      method: "POST",
      dispatcher: refetches,
      headers: { "x-api-key": CLIENT_KEY, "content-type": "application/json" },
      body: JSON.stringify({ context: { targetingKey: this.#user, "user-type": "customer" } }),
    });
    if (res.statusCode !== 200) throw new Error(`bulk evaluation: HTTP ${res.statusCode}`);
    const body = (await res.body.json()) as { flags: Array<{ key: string; value?: unknown }> };
    const v = body.flags.find((f) => f.key === "new-checkout")?.value;
    this.value = typeof v === "boolean" ? v : undefined;
    return this.value;
  }

  close(): void {
    this.#req?.destroy();
  }
}

/** A published web provider under Node, in its own OpenFeature domain. */
class ProviderClient {
  readonly domain: string;
  #want: boolean | undefined;
  arrival: Arrival = {};

  constructor(n: number) {
    this.domain = `bench-${n}`;
  }

  async start(ofrep: string): Promise<void> {
    await OpenFeature.setContext(this.domain, {
      targetingKey: `provider-${this.domain}`,
      "user-type": "customer",
    });
    const provider = new OFREPWebProvider({
      baseUrl: ofrep,
      headers: [["X-API-Key", CLIENT_KEY]],
      changeDetection: "sse",
      cacheMode: "disabled",
    });
    // Its published types declare `hooks?: Hook[]`, which the SDK's Provider refuses under
    // exactOptionalPropertyTypes; at run time they are the same thing.
    await OpenFeature.setProviderAndWait(this.domain, provider as unknown as Provider);
    const client = OpenFeature.getClient(this.domain);
    client.addHandler(ProviderEvents.ConfigurationChanged, () => {
      const at = nowMs();
      if (this.arrival.eventAt === undefined) this.arrival.eventAt = at;
      if (client.getBooleanValue("new-checkout", !this.#want) === this.#want)
        this.arrival.valueAt ??= at;
    });
  }

  expect(want: boolean): void {
    this.#want = want;
    this.arrival = {};
  }
}

interface Stat {
  p50: number | null;
  p99: number | null;
  max: number | null;
}

function stat(values: number[]): Stat {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return { p50: null, p99: null, max: null };
  return {
    p50: round(percentileSorted(s, 50), 1),
    p99: round(percentileSorted(s, 99), 1),
    max: round(s[s.length - 1] as number, 1),
  };
}

async function waitAll(what: string, done: () => boolean, ms = 10_000): Promise<void> {
  const end = nowMs() + ms;
  while (!done()) {
    if (nowMs() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function main(): Promise<void> {
  installCleanup(say);
  const dir = mkdtempSync(join(os.tmpdir(), "aviary-bench-flag-changes-"));
  registerTempDir(dir);
  const [listen, admin, ofrepPort] = (await freePorts(3)) as [number, number, number];
  const ports = { listen, admin, ofrep: ofrepPort };
  const dataDir = join(dir, "data");
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, "tokens"), `sha256:${hashToken(CLIENT_KEY)} client bench\n`, {
    mode: 0o600,
  });
  const specFile = join(dir, "aviary.yaml");
  writeFileSync(specFile, stringify(specOf(ports, true)));
  const token = randomBytes(18).toString("base64url");
  const aviary: Proc = launch(
    "aviary",
    process.execPath,
    [CLI, "serve", "-c", specFile, "--data-dir", dataDir],
    { cwd: ROOT, env: { AVIARY_TOKEN: token } },
  );
  const ofrep = `http://127.0.0.1:${ofrepPort}`;
  const api = new AdminApi(`http://127.0.0.1:${admin}`, token);
  const streams: StreamClient[] = [];
  const providers: ProviderClient[] = [];
  try {
    await waitReady(`http://127.0.0.1:${admin}/healthz`, aviary);
    for (let i = 0; i < CLIENTS; i++) {
      const c = new StreamClient(ofrep, `user-${i}`);
      await c.open();
      streams.push(c);
    }
    (globalThis as { EventSource?: unknown }).EventSource = EventSource;
    for (let i = 0; i < PROVIDERS; i++) {
      const p = new ProviderClient(i);
      await p.start(ofrep);
      providers.push(p);
    }
    // All at once, as after a change: every client holds a kept-alive connection from then on.
    const before = await Promise.all(streams.map((c) => c.fetch()));
    if (!before.every((v) => v === true))
      throw new Error("the flag is not on before the first run");
    say(
      `aviary serve (SQLite) with OFREP; ${CLIENTS} change-stream clients (SSE over HTTP) and ${PROVIDERS} @openfeature/ofrep-web-provider instances under Node, all in this process`,
    );

    const apply = async (on: boolean) => {
      const res = await api.call("POST", "/api/v1/apply", {
        spec: stringify(specOf(ports, on)),
      });
      if (res.status >= 300)
        throw new Error(`apply: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      return { sentAt: res.sentAt, returnedAt: res.sentAt + res.ms };
    };
    const everyone = [...streams, ...providers];
    const heard = () => everyone.every((c) => c.arrival.valueAt !== undefined);

    const runs: Array<{ reachMs: Stat; eventMs: Stat; fromSentMs: Stat; applyMs: number }> = [];
    const reachAll: number[] = [];
    const eventAll: number[] = [];
    const sentAll: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      // Switched on again (all clients hear it), then the measured rollback.
      for (const c of everyone) c.expect(true);
      if (run > 0) {
        await apply(true);
        await waitAll("every client to hear the flag switched on", heard);
      }
      for (const c of everyone) c.expect(false);
      const t = await apply(false);
      await waitAll("every client to hear the rollback", heard);
      const reach = everyone.map((c) => (c.arrival.valueAt as number) - t.returnedAt);
      const event = everyone.map((c) => (c.arrival.eventAt as number) - t.returnedAt);
      const sent = everyone.map((c) => (c.arrival.valueAt as number) - t.sentAt);
      reachAll.push(...reach);
      eventAll.push(...event);
      sentAll.push(...sent);
      const r = {
        reachMs: stat(reach),
        eventMs: stat(event),
        fromSentMs: stat(sent),
        applyMs: round(t.returnedAt - t.sentAt, 1) as number,
      };
      runs.push(r);
      say(
        `run ${run + 1}: apply answered in ${r.applyMs} ms; after it: event p50 ${r.eventMs.p50} / p99 ${r.eventMs.p99} / max ${r.eventMs.max} ms, new value p50 ${r.reachMs.p50} / p99 ${r.reachMs.p99} / max ${r.reachMs.max} ms (from the apply sent: max ${r.fromSentMs.max} ms)`,
      );
    }
    const result = {
      clients: everyone.length,
      streamClients: CLIENTS,
      providers: PROVIDERS,
      reachMs: stat(reachAll),
      eventMs: stat(eventAll),
      fromSentMs: stat(sentAll),
      runs,
    };
    if (json) console.log(JSON.stringify(result));
    else
      say(
        `all runs, ${everyone.length} clients × ${RUNS}: new value after the apply returned p50 ${result.reachMs.p50} / p99 ${result.reachMs.p99} / max ${result.reachMs.max} ms; from the apply sent, max ${result.fromSentMs.max} ms`,
      );
  } finally {
    for (const c of streams) c.close();
    await OpenFeature.close();
    await api.close();
    await refetches.close();
    await stop(aviary);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
